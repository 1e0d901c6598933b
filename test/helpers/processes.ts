/**
 * Shared e2e helpers for real processes: spawn a program, wait for a JSON line on its stdout,
 * wait for a process state, stop/kill and reap. The mapping zoo (test/fixtures/zoo.c, compiled by
 * test/global-setup.ts into test/.build/zoo) is started with spawnZoo().
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');
export const BUILD_DIR = join(REPO_ROOT, 'test', '.build');

/** Path of a compiled fixture (test/fixtures/NAME.c -> test/.build/NAME). */
export function fixtureBinary(name: string): string {
  const p = join(BUILD_DIR, name);
  if (!existsSync(p))
    throw new Error(`${p} missing: run the e2e project (global setup compiles it)`);
  return p;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Resolves with the first line on `stream` that parses as JSON and satisfies `accept`; rejects on
 * timeout or when the process exits first. `collect` receives every line (for error messages).
 */
export function waitForJsonLine<T = Record<string, unknown>>(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  accept: (obj: Record<string, unknown>) => boolean = () => true,
  timeoutMs = 15000,
): Promise<T> {
  const src = child[stream];
  if (!src) return Promise.reject(new Error(`child has no ${stream} pipe`));
  return new Promise<T>((resolve, reject) => {
    let buf = '';
    const seen: string[] = [];
    const cleanup = (): void => {
      clearTimeout(timer);
      src.off('data', onData);
      child.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(`no matching JSON line on ${stream} after ${timeoutMs} ms:\n${seen.join('\n')}`),
      );
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        seen.push(line);
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          if (obj && typeof obj === 'object' && accept(obj)) {
            cleanup();
            resolve(obj as T);
            return;
          }
        } catch {
          // not JSON: keep reading
        }
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(
        new Error(
          `process exited (code ${code}, signal ${signal}) before a matching line:\n${seen.join('\n')}${buf}`,
        ),
      );
    };
    src.on('data', onData);
    child.on('exit', onExit);
  });
}

/** The one-letter state of /proc/PID/stat, or undefined when the process is gone. */
export function procState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Polls `probe` (every 50 ms) until it returns something other than undefined/false, and resolves
 * with that: for what arrives asynchronously (a log line through a pipe, a health check's verdict).
 * The bound only ends a wait that would never succeed; it is generous, and nothing asserts time.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`still waiting after ${timeoutMs} ms for ${what}`);
    await sleep(50);
  }
}

/** Polls until /proc/PID/stat shows one of `states` (e.g. 'T' for stopped). */
export async function waitForState(pid: number, states: string, timeoutMs = 20000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = procState(pid);
    if (s !== undefined && states.includes(s)) return;
    if (Date.now() > until)
      throw new Error(`pid ${pid} is in state ${s}, expected one of ${states}`);
    await sleep(10);
  }
}

/** Anything startAll can stop again: an AgentHandle, a Zoo, a GatewayHandle. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Promise.all for starting processes side by side (agents, zoos...; undefined for "none"): waits
 * for every start to settle and, when one failed, stops the ones that started before rethrowing,
 * so that a failed start leaves no process behind to keep jest alive.
 *
 *   const [agent, zoo] = await startAll([startAgent(...), spawnZoo()]);
 */
export async function startAll<T extends readonly Promise<Stoppable | undefined>[] | []>(
  starts: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const all: readonly Promise<Stoppable | undefined>[] = starts;
  const settled = await Promise.allSettled(all);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(
      settled.flatMap((s) => (s.status === 'fulfilled' && s.value ? [s.value.stop()] : [])),
    );
    throw failed.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** Sends a signal (ignoring ESRCH) and resolves when the child has been reaped. */
export function killAndReap(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    try {
      child.kill(signal);
      // A stopped process only acts on SIGKILL or after SIGCONT.
      if (signal !== 'SIGKILL' && child.pid !== undefined) process.kill(child.pid, 'SIGCONT');
    } catch {
      resolve();
    }
  });
}

export interface ZooRegions {
  pid: number;
  private: string;
  shared: string;
  deleted: string;
  space: string;
  memfd: string;
  shm: string;
  shmid: number;
  huge: string;
  locked: string;
  mlocked: boolean;
  named: string;
  /** false when the kernel lacks CONFIG_ANON_VMA_NAME (then `named` is plain anonymous memory). */
  named_ok: boolean;
  anon64: string;
  heap: string;
  /** Start of the --vmas region ("(nil)" without it). */
  many: string;
  many_count: number;
  /**
   * Start of a 4 MiB MAP_HUGETLB region (two 2 MiB pages), "(nil)" when the hugetlb pool had no
   * free pages (the e2e global setup reserves some when it runs as root).
   */
  hugetlb: string;
  threads: number[];
}

export interface Zoo {
  pid: number;
  regions: ZooRegions;
  /** The temporary directory holding the zoo's mapped files. */
  dir: string;
  child: ChildProcess;
  /** Kills (SIGKILL), reaps and removes the temp dir. */
  stop(): Promise<void>;
  /** Sends a signal without waiting. */
  kill(signal?: NodeJS.Signals): void;
}

export interface ZooOptions {
  /** Extra VMAs: N pages with alternating protections. */
  vmas?: number;
  /** Exit as soon as this agent pid opens our maps/smaps (see zoo.c). */
  exitOnReadBy?: number;
  /** Default true: the zoo stops itself (SIGSTOP) after printing; resolves once it is stopped. */
  stop?: boolean;
  /** A directory name inside the temp dir for the mapped files (so their paths contain it). */
  subdir?: string;
}

/** Starts the mapping zoo and resolves with its region addresses once it is ready (stopped). */
export async function spawnZoo(opts: ZooOptions = {}): Promise<Zoo> {
  const top = mkdtempSync(join(tmpdir(), 'pmapd-zoo-'));
  const dir = opts.subdir !== undefined ? join(top, opts.subdir) : top;
  if (opts.subdir !== undefined) mkdirSync(dir);
  const args = [dir];
  if (opts.vmas) args.push('--vmas', String(opts.vmas));
  if (opts.exitOnReadBy) args.push('--exit-on-read', String(opts.exitOnReadBy));
  const stop = opts.stop !== false && !opts.exitOnReadBy;
  if (!stop && !opts.exitOnReadBy) args.push('--no-stop');
  const spawnOpts: SpawnOptions = { stdio: ['ignore', 'pipe', 'inherit'] };
  const child = spawn(fixtureBinary('zoo'), args, spawnOpts);
  const cleanup = async (): Promise<void> => {
    await killAndReap(child, 'SIGKILL');
    rmSync(top, { recursive: true, force: true });
  };
  try {
    const regions = await waitForJsonLine<ZooRegions>(child, 'stdout', (o) => 'pid' in o);
    if (stop) await waitForState(regions.pid, 'Tt');
    return {
      pid: regions.pid,
      regions,
      dir,
      child,
      stop: cleanup,
      kill: (signal: NodeJS.Signals = 'SIGKILL') => {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
