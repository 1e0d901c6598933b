import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * e2e teardown: gives back the hugetlb pages the global setup reserved (see global-setup.ts),
 * then ends whatever the tests left running. Each spec stops what it starts in its own hooks;
 * this is the net under a spec whose cleanup failed: a child process still holding a pipe to
 * jest (an agent, a stopped zoo) would keep jest from ever exiting, so it is killed here and
 * named on stderr.
 */
export default function globalTeardown(): void {
  const restore = join(__dirname, '.build', 'nr_hugepages.restore');
  if (existsSync(restore)) {
    try {
      writeFileSync('/proc/sys/vm/nr_hugepages', readFileSync(restore, 'utf8').trim());
    } catch {
      // the pool stays as it is; nothing else depends on it
    }
    rmSync(restore, { force: true });
  }
  const left = leftoverDescendants(process.pid);
  if (left.length === 0) return;
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.stderr.write(
    `global teardown: killed ${left.length} process(es) the tests left running: ` +
      left.map((p) => `${p.pid} (${p.comm})`).join(', ') +
      '\n',
  );
}

/**
 * Descendants of `root` from /proc, jest's own worker processes excepted (jest ends those; their
 * children are counted).
 */
function leftoverDescendants(root: number): { pid: number; comm: string }[] {
  const children = new Map<number, { pid: number; comm: string; worker: boolean }[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const entry = { pid: Number(name), comm, worker: cmdline.includes('jest-worker') };
      children.set(ppid, [...(children.get(ppid) ?? []), entry]);
    } catch {
      // exited meanwhile
    }
  }
  const out: { pid: number; comm: string }[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (!c.worker) out.push({ pid: c.pid, comm: c.comm });
      walk(c.pid);
    }
  };
  walk(root);
  return out;
}
