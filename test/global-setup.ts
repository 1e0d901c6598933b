import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * e2e setup: compiles the C test programs in test/fixtures/*.c into test/.build/ (rebuilt when the
 * source is newer; lib*.c as shared libraries, static-*.c linked statically) and builds dist/ when the apps have not been built yet, so agents and the
 * gateway run as real processes.
 */
export default function globalSetup(): void {
  const root = join(__dirname, '..');
  const src = join(root, 'test', 'fixtures');
  const out = join(root, 'test', '.build');
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(src)) {
    if (!f.endsWith('.c')) continue;
    const bin = join(out, f.slice(0, -2));
    const shared = f.startsWith('lib');
    const target = shared ? bin + '.so' : bin;
    if (existsSync(target) && statSync(target).mtimeMs >= statSync(join(src, f)).mtimeMs) continue;
    const args = shared
      ? ['-O2', '-Wall', '-shared', '-fPIC', '-o', target, join(src, f)]
      : f.startsWith('static-')
        ? ['-O2', '-Wall', '-static', '-o', target, join(src, f)]
        : ['-O2', '-Wall', '-pthread', '-o', target, join(src, f)];
    execFileSync('gcc', args, { stdio: 'inherit' });
  }
  if (
    !existsSync(join(root, 'dist', 'apps', 'agent', 'src', 'main.js')) ||
    process.env.PMAPD_REBUILD
  ) {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  }
}
