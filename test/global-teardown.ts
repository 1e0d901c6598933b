import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** e2e teardown: gives back the hugetlb pages the global setup reserved (see global-setup.ts). */
export default function globalTeardown(): void {
  const restore = join(__dirname, '.build', 'nr_hugepages.restore');
  if (!existsSync(restore)) return;
  try {
    writeFileSync('/proc/sys/vm/nr_hugepages', readFileSync(restore, 'utf8').trim());
  } catch {
    // the pool stays as it is; nothing else depends on it
  }
  rmSync(restore, { force: true });
}
