/**
 * ProcReader: reads /proc (or a captured tree under `procRoot`) and turns errno values into
 * PmapError (procError in errors.ts; an empty stat is EXITED too).
 *
 * Files that cannot block (stat, status, cgroup, task/*) are read synchronously, one read each.
 * The files whose read takes the target's mmap_lock (cmdline, maps, smaps, smaps_rollup,
 * numa_maps) go through the asynchronous `lockedRead` (in the agent: a GuardedFileReader, whose
 * worker threads read them), so the methods that read them return promises and take an abort
 * signal: a cancelled read is dropped.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  PmapError,
  type MemoryMap,
  type MemoryRollup,
  type ProcessHeader,
  type ProcessInfo,
  type MapsLine,
  type Vma,
} from '@app/domain';
import { classifyStack, classifyVmas } from './classify';
import {
  abortError,
  checkPid,
  isDigits,
  isGone,
  PF_KTHREAD,
  readBootTime,
  readPasswd,
  threadStackPointers,
} from './proc-files';
import { errnoOf, exited, notFound, procError } from './errors';
import { MapsLineScanner } from './maps-line';
import { listProcesses, type ListSource } from './process-list';
import {
  parseCgroup,
  MapsLinesParser,
  parseCmdline,
  parseNumaMaps,
  parseSmapsRollup,
  SmapsParser,
  parseStat,
  parseStatus,
} from './parse';
import type {
  NumaMapsEntry,
  ProcessFilter,
  ProcReaderOptions,
  ProcStat,
  ProcStatus,
  ReadMemoryMapOptions,
  ReadOptions,
} from './types';

export { LISTED_CMDLINE_BYTES } from './process-list';

export class ProcReader {
  readonly procRoot: string;
  readonly etcRoot: string;
  readonly clockTicks: number;
  readonly pageSize: bigint;
  private users: Map<number, string> | undefined;
  private bootTimeMs: number | undefined;
  private readonly lockedRead: (path: string, opts: ReadOptions) => Promise<Buffer>;
  private readonly lockedReadChunks: NonNullable<ProcReaderOptions['lockedReadChunks']>;

  constructor(opts: ProcReaderOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.etcRoot = opts.etcRoot ?? '/etc';
    this.clockTicks = opts.clockTicks ?? 100;
    this.pageSize = opts.pageSize ?? 4096n;
    const whole = opts.lockedRead ?? ((p, o) => fs.promises.readFile(p, { signal: o.signal }));
    this.lockedRead = whole;
    this.lockedReadChunks =
      opts.lockedReadChunks ?? ((p, onChunk, o) => whole(p, o).then((b) => onChunk(b)));
  }

  private file(pid: number, name: string): string {
    return path.join(this.procRoot, String(pid), name);
  }

  /** A file that cannot block (stat, status, cgroup): read synchronously. */
  private readText(pid: number, name: string, started: boolean): string {
    try {
      return fs.readFileSync(this.file(pid, name), 'utf8');
    } catch (e) {
      throw procError(e, pid, name, started);
    }
  }

  /**
   * A file whose read takes the target's mmap_lock (or reads its memory: cmdline, maps, smaps,
   * smaps_rollup, numa_maps): a process stuck in the kernel holding that lock makes the read
   * block, so it goes through the asynchronous lockedRead.
   */
  private async readLocked(
    pid: number,
    name: string,
    started: boolean,
    opts: ReadOptions,
  ): Promise<Buffer> {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    try {
      return await this.lockedRead(this.file(pid, name), opts);
    } catch (e) {
      // The call's own failures pass unchanged: it was cancelled (the signal's reason), or the
      // caller's `resume` failed (a permit it could not take back: busy, deadline). Only the
      // file's failures (PmapError, errno codes) are the process's.
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (!(e instanceof PmapError) && errnoOf(e) === undefined) throw e;
      throw procError(e, pid, name, started);
    }
  }

  /** readLocked in pieces that end at line ends (ProcReaderOptions.lockedReadChunks). */
  private async readLockedChunks(
    pid: number,
    name: string,
    opts: ReadOptions,
    onChunk: (piece: Buffer) => void,
  ): Promise<void> {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    try {
      await this.lockedReadChunks(this.file(pid, name), onChunk, opts);
    } catch (e) {
      // As readLocked: the call's own failures pass unchanged, the file's are the process's.
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (!(e instanceof PmapError) && errnoOf(e) === undefined) throw e;
      throw procError(e, pid, name, true);
    }
  }

  private statOf(pid: number, started: boolean): ProcStat {
    const text = this.readText(pid, 'stat', started);
    if (text.length === 0) throw started ? exited(pid) : notFound(pid);
    try {
      return parseStat(text);
    } catch {
      throw exited(pid);
    }
  }

  /** /proc/PID/stat. */
  readStat(pid: number): ProcStat {
    checkPid(pid);
    return this.statOf(pid, false);
  }

  /** /proc/PID/status. */
  readStatus(pid: number): ProcStatus {
    checkPid(pid);
    const text = this.readText(pid, 'status', false);
    if (text.length === 0) throw exited(pid);
    return parseStatus(text);
  }

  /** /proc/PID/cgroup: the v2 path. */
  readCgroup(pid: number): string {
    checkPid(pid);
    return parseCgroup(this.readText(pid, 'cgroup', false));
  }

  /** /proc/PID/numa_maps. */
  async readNumaMaps(pid: number, opts: ReadOptions = {}): Promise<NumaMapsEntry[]> {
    return parseNumaMaps(await this.readNumaMapsText(pid, opts));
  }

  /** /proc/PID/numa_maps as text (for a histogram scan's numaMapsText). */
  async readNumaMapsText(pid: number, opts: ReadOptions = {}): Promise<string> {
    checkPid(pid);
    this.statOf(pid, false);
    return (await this.readLocked(pid, 'numa_maps', true, opts)).toString('utf8');
  }

  /** /proc/PID/smaps_rollup in bytes (all zeros for a kernel thread or zombie). */
  async readRollup(pid: number, opts: ReadOptions = {}): Promise<MemoryRollup> {
    checkPid(pid);
    this.statOf(pid, false);
    const b = await this.readLocked(pid, 'smaps_rollup', true, opts);
    return parseSmapsRollup(b.toString('utf8'));
  }

  private headerFrom(
    pid: number,
    stat: ProcStat,
    status: ProcStatus,
    cmdline: Buffer,
  ): ProcessHeader {
    return {
      pid,
      cmdline: parseCmdline(cmdline, stat.comm),
      comm: stat.comm,
      startStack: stat.startStack,
      kernelThread: (stat.flags & PF_KTHREAD) !== 0 || status.kthread === true,
      uid: status.uid,
      readAtMs: Date.now(),
      pageSize: this.pageSize,
    };
  }

  /** The first line of pmap output and what classification needs: cmdline + stat + status. */
  async readHeader(pid: number, opts: ReadOptions = {}): Promise<ProcessHeader> {
    return (await this.headerWithStat(pid, opts)).header;
  }

  private async headerWithStat(
    pid: number,
    opts: ReadOptions,
  ): Promise<{ header: ProcessHeader; stat: ProcStat }> {
    checkPid(pid);
    const stat = this.statOf(pid, false);
    const cmdline = await this.readLocked(pid, 'cmdline', true, opts);
    const statusText = this.readText(pid, 'status', true);
    if (statusText.length === 0) throw exited(pid);
    return { header: this.headerFrom(pid, stat, parseStatus(statusText), cmdline), stat };
  }

  /**
   * The memory map at maps or smaps level, classified (stack from stat startstack; thread stacks
   * from each thread's stack pointer when `threadStacks`). A zombie or kernel thread has an empty
   * map (no error). A process that exits while maps/smaps is read makes the kernel end the file
   * early — or give nothing — without an error, so the map of a process that was not already gone
   * when the read began is only returned when it is still alive afterwards (else EXITED).
   */
  async readMemoryMap(pid: number, opts: ReadMemoryMapOptions): Promise<MemoryMap> {
    // The header first: a process whose cmdline read is stuck holds one stuck worker, not two.
    const { header, stat } = await this.headerWithStat(pid, opts);
    const smaps = opts.detail === 'smaps';
    // The map in pieces, each parsed while the kernel generates the next.
    const parser = smaps ? new SmapsParser() : new MapsLinesParser();
    await this.readLockedChunks(pid, smaps ? 'smaps' : 'maps', opts, (piece) => parser.feed(piece));
    const vmas: Vma[] = parser.finish();
    if (vmas.length > 0 || !isGone(stat)) this.assertStillAlive(pid);
    const sps =
      opts.threadStacks && vmas.length > 0 ? threadStackPointers(this.procRoot, pid) : undefined;
    classifyVmas(vmas, header.startStack, sps);
    return { header, vmas };
  }

  /**
   * The memory map one VMA at a time, for a renderer that writes each row as it comes (pmap's
   * plain, -x and -d): the header is read first and given to `begin`, which returns where the
   * VMAs go. Each VMA is classified from its name and stat's startstack (no thread stacks) and
   * handed over as soon as it is parsed, while the rest of the file is still being read; none is
   * kept. Resolves with the header and the number of VMAs once the file is read and the process
   * was still alive after it; else rejects (EXITED as readMemoryMap): what was handed over is then
   * to be dropped.
   */
  async readMemoryMapRows(
    pid: number,
    opts: ReadMemoryMapOptions,
    begin: (header: ProcessHeader) => (v: Vma) => void,
  ): Promise<{ header: ProcessHeader; vmas: number }> {
    const { header, stat } = await this.headerWithStat(pid, opts);
    const sink = begin(header);
    const startStack = header.startStack;
    let n = 0;
    const onVma = (v: Vma): void => {
      n++;
      classifyStack(v, startStack);
      sink(v);
    };
    const smaps = opts.detail === 'smaps';
    const parser = smaps ? new SmapsParser(onVma) : new MapsLinesParser(onVma);
    await this.readLockedChunks(pid, smaps ? 'smaps' : 'maps', opts, (piece) => parser.feed(piece));
    parser.finish();
    if (n > 0 || !isGone(stat)) this.assertStillAlive(pid);
    return { header, vmas: n };
  }

  /**
   * /proc/PID/maps one header line at a time, as bytes (MapsLineScanner): as readMemoryMapRows at
   * maps detail, but no Vma is made: `begin` gets the header and returns where each line goes
   * (the piece's bytes and the line's field offsets, valid during the call only). For renderers
   * that write rows straight from the bytes (pmap plain and -d, PmapRowRenderer.line).
   */
  async readMapsLines(
    pid: number,
    opts: ReadOptions,
    begin: (header: ProcessHeader) => (b: Buffer, f: MapsLine) => void,
  ): Promise<{ header: ProcessHeader; vmas: number }> {
    const { header, stat } = await this.headerWithStat(pid, opts);
    const scanner = new MapsLineScanner(begin(header));
    await this.readLockedChunks(pid, 'maps', opts, (piece) => scanner.feed(piece));
    if (scanner.lines > 0 || !isGone(stat)) this.assertStillAlive(pid);
    return { header, vmas: scanner.lines };
  }

  /**
   * Throws EXITED "process N exited during the read" unless /proc/PID/stat still exists, its
   * state is not zombie/dead (Z, X, x) and it is not exiting (PF_EXITING). The kernel sets
   * PF_EXITING before it tears the address space down, while the state still reads R: a maps read
   * that raced the teardown ends early without an error, so only the flag tells a truncated map
   * from a whole one.
   */
  private assertStillAlive(pid: number): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file(pid, 'stat'), 'latin1');
    } catch (e) {
      throw procError(e, pid, 'stat', true);
    }
    let st: ProcStat;
    try {
      st = parseStat(text);
    } catch {
      throw exited(pid);
    }
    if (isGone(st)) throw exited(pid);
  }

  /** tid -> stack pointer for each thread (proc-files.ts threadStackPointers). */
  threadStackPointers(pid: number): Map<number, bigint> {
    return threadStackPointers(this.procRoot, pid);
  }

  /** Numeric entries of the proc root, ascending. */
  listPids(): number[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.procRoot);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new PmapError('UNAVAILABLE', `cannot list ${this.procRoot}: ${msg}`);
    }
    const pids: number[] = [];
    for (const n of names) if (isDigits(n)) pids.push(Number(n));
    return pids.sort((a, b) => a - b);
  }

  /** Boot time from the proc root's stat "btime" line (ms since the epoch; 0 when unknown). */
  bootTime(): number {
    this.bootTimeMs ??= readBootTime(this.procRoot);
    return this.bootTimeMs;
  }

  /** User name for a uid from <etcRoot>/passwd (read once); the uid as text when unknown. */
  userName(uid: number): string {
    this.users ??= readPasswd(this.etcRoot);
    return this.users.get(uid) ?? String(uid);
  }

  /**
   * Processes matching `filter` (process-list.ts listProcesses): every given criterion must
   * hold, in pid order; up to `opts.concurrency` (default 8) read at once.
   */
  listProcesses(
    filter: ProcessFilter = {},
    opts: ReadOptions & { concurrency?: number } = {},
  ): Promise<{ processes: ProcessInfo[]; unreadable: number }> {
    const src: ListSource = {
      clockTicks: this.clockTicks,
      pageSize: this.pageSize,
      statOf: (pid, started) => this.statOf(pid, started),
      readText: (pid, name, started) => this.readText(pid, name, started),
      readLocked: (pid, name, started, o) => this.readLocked(pid, name, started, o),
      userName: (uid) => this.userName(uid),
      bootTime: () => this.bootTime(),
      listPids: () => this.listPids(),
    };
    return listProcesses(src, filter, opts);
  }
}
