import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * e2e setup: compiles the C test programs in test/fixtures/*.c into test/.build/ (rebuilt when the
 * source is newer; lib*.c as shared libraries, static-*.c linked statically) and brings dist/ up
 * to date with the sources (`npm run build`, incremental), so agents and the gateway run as real
 * processes from the code under test.
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
  reserveHugetlbPages(out);
  // Always: an incremental build (dist/.tsbuildinfo) re-emits only what changed, so an e2e run
  // after an edit never tests the previous build.
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
}

/** Free 2 MiB hugetlb pages the e2e run wants: each zoo maps two (about 8 zoos at once at most). */
const HUGETLB_PAGES_WANTED = 32;
const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';

/**
 * Makes sure the hugetlb pool has HUGETLB_PAGES_WANTED free pages (root only), so the zoo's
 * MAP_HUGETLB region exists and hugetlb VMAs are tested against pmap and the kernel. The pool's
 * previous size is written to test/.build/nr_hugepages.restore for the global teardown. Without
 * the privilege (or a read-only sysctl) nothing changes and the zoo reports no hugetlb region.
 */
function reserveHugetlbPages(buildDir: string): void {
  try {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const free = Number(/^HugePages_Free:\s+(\d+)/m.exec(meminfo)?.[1] ?? 'NaN');
    const total = Number(readFileSync(NR_HUGEPAGES, 'utf8').trim());
    if (!Number.isFinite(free) || !Number.isFinite(total) || free >= HUGETLB_PAGES_WANTED) return;
    writeFileSync(NR_HUGEPAGES, String(total + HUGETLB_PAGES_WANTED - free));
    const restore = join(buildDir, 'nr_hugepages.restore');
    if (!existsSync(restore)) writeFileSync(restore, String(total));
  } catch {
    // not root, or no hugetlb support: the zoo maps no hugetlb region
  }
}
