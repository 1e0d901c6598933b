/**
 * A clone anywhere is complete: no tracked file reaches outside the repository — not the
 * developers' reference folder beside it, not this machine's paths, not the reference document
 * the docs were first written from — and every fixture the specs read is tracked.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES_ROOT } from './fixtures/paths';
import { REPO_ROOT } from './helpers/processes';

/** Tracked files, from git (CI and every developer run in a clone). */
function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '');
}

// Spelled in pieces, so this file does not match itself.
const SHARED = ['..', 'shared'].join('/');
const FORBIDDEN: { what: string; needle: string }[] = [
  { what: 'the reference folder beside the clone', needle: SHARED + '/' },
  { what: 'the reference folder beside the clone', needle: SHARED + '`' },
  ...['fixtures', 'docs', 'seeds'].map((d) => ({
    what: 'the reference folder beside the clone',
    needle: ['', 'shared', d, ''].join('/'),
  })),
  { what: 'the reference document outside the repository', needle: 'REFER' + 'ENCE' },
  { what: "this workplace's absolute path", needle: ['', 'work', ''].join('/') },
  { what: "this clone's absolute path", needle: REPO_ROOT + '/' },
];

const SHARED_SEGMENTS = new RegExp(
  `['"\`]${'sha' + 'red'}['"\`]\\s*,\\s*['"\`](fixtures|docs|seeds)['"\`]`,
);

describe('the repository is self-contained', () => {
  const files = trackedFiles();

  it('lists the tracked files (the check below has something to look at)', () => {
    expect(files).toContain('package.json');
    expect(files.length).toBeGreaterThan(100);
  });

  it('no tracked file refers outside the repository or to an absolute machine path', () => {
    const hits: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(REPO_ROOT, f), 'latin1');
      if (text.includes('\0')) continue; // binary
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        for (const { what, needle } of FORBIDDEN) {
          if (line.includes(needle)) hits.push(`${f}:${i + 1}: ${what} (${needle})`);
        }
        // the same folder as path segments, as in a join() of '..', the folder name, 'fixtures'
        if (SHARED_SEGMENTS.test(line))
          hits.push(`${f}:${i + 1}: the reference folder as segments`);
      });
    }
    expect(hits).toEqual([]);
  });

  it('every file under test/fixtures that a spec reads is tracked', () => {
    const fixtures = new Set(files.filter((f) => f.startsWith('test/fixtures/')));
    const rel = (p: string): string => p.slice(REPO_ROOT.length + 1);
    for (const f of [
      'procps-4.0.2/README.md',
      'procps-4.0.2/commands.txt',
      'procps-4.0.2/target_proc_smaps.txt',
      'procps-4.0.2/t_XX.txt',
      've/pmap/ve-pmap-default.txt',
      've/pmap/ve-pmap-XX.txt',
      've/pmap/x86-pseudo-process-pmap-X.txt',
      'README.md',
    ]) {
      expect(fixtures).toContain(rel(join(FIXTURES_ROOT, f)));
    }
    // nothing left untracked there that a spec could come to depend on
    const untracked = execFileSync(
      'git',
      ['ls-files', '--others', '--exclude-standard', '--', 'test/fixtures'],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    expect(untracked).toBe('');
  });
});
