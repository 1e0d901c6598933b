/**
 * The checked-in generated code (libs/proto/src/gen) must be exactly what `buf generate` produces
 * from proto/ now: regenerate into a scratch copy of the tree and compare byte for byte.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './helpers/processes';

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

describe('proto drift', () => {
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'pmapd-proto-drift-'));
  });

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('libs/proto/src/gen is byte for byte what buf generate produces from proto/', () => {
    // Same layout as the repo so that buf.gen.yaml's relative paths (../node_modules, ../libs)
    // resolve inside the scratch directory.
    cpSync(join(REPO_ROOT, 'proto'), join(scratch, 'proto'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(scratch, 'node_modules'));
    execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'buf'), ['generate'], {
      cwd: join(scratch, 'proto'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const fresh = join(scratch, 'libs', 'proto', 'src', 'gen');
    const checkedIn = join(REPO_ROOT, 'libs', 'proto', 'src', 'gen');
    const files = listFiles(fresh);
    expect(files.length).toBeGreaterThan(0);
    expect(listFiles(checkedIn)).toEqual(files);
    for (const f of files) {
      const same = readFileSync(join(fresh, f)).equals(readFileSync(join(checkedIn, f)));
      expect({ file: f, upToDate: same }).toEqual({ file: f, upToDate: true });
    }
  });
});
