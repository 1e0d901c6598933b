import { unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as koffi from 'koffi';
import { PmapError, type PmapErrorCode } from '@app/domain';

/** VE_PATH_MAX of veosinfo.h: the size of ve_map_info's filename buffer. */
export const VE_PATH_MAX = 4096;
/** Room for ve_get_nos' node array: veosinfo.h has had VE_MAX_NODE 8 and 32; be generous. */
const NODE_ARRAY_LEN = 64;

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** errno of a failed libveosinfo call -> PmapError code. */
export function veErrnoCode(errno: number): PmapErrorCode {
  const e = osConstants.errno;
  switch (errno) {
    case e.ESRCH:
    case e.ENOENT:
      return 'NOT_FOUND';
    case e.EACCES:
    case e.EPERM:
      return 'PERMISSION_DENIED';
    case e.EINVAL:
      return 'INVALID_ARGUMENT';
    default:
      // ECONNREFUSED, ENOTCONN, EAGAIN, ENOMEM, …: VEOS is not answering properly.
      return 'UNAVAILABLE';
  }
}

type NativeFn = (...args: unknown[]) => number;

/**
 * The libveosinfo calls pmapd uses, bound through koffi. Prototypes (veosinfo.h):
 *   int ve_get_nos(unsigned int *online_node_count, int *nodeid);
 *   int ve_check_pid(int nodeid, int pid);            // 0 VE process, 1 not on node, -1 error
 *   int ve_map_info(int nodeid, pid_t pid, unsigned int *length, char *filename);
 * Every call returns -1 with errno on failure. ve_node_info (struct ve_nodeinfo) is deliberately
 * not used: its layout depends on VE_MAX_NODE, which differs between veosinfo releases.
 */
export class VeosInfoLib {
  private lib: koffi.LibraryHandle | undefined;
  private readonly getNosFn: NativeFn;
  private readonly checkPidFn: NativeFn;
  private readonly mapInfoFn: NativeFn;

  /** Throws when the library cannot be loaded or lacks one of the symbols. */
  constructor(readonly path: string) {
    const lib = koffi.load(path);
    try {
      this.getNosFn = lib.func('int ve_get_nos(void *num, void *nodeid)') as NativeFn;
      this.checkPidFn = lib.func('int ve_check_pid(int nodeid, int pid)') as NativeFn;
      this.mapInfoFn = lib.func(
        'int ve_map_info(int nodeid, int pid, void *length, void *filename)',
      ) as NativeFn;
    } catch (e) {
      lib.unload();
      throw e;
    }
    this.lib = lib;
  }

  get closed(): boolean {
    return this.lib === undefined;
  }

  close(): void {
    this.lib?.unload();
    this.lib = undefined;
  }

  private open(): void {
    if (!this.lib) throw new PmapError('UNAVAILABLE', 'VE source is closed');
  }

  /** Online VE nodes per ve_get_nos (its own ENOENT "no online node" gives []). */
  getNos(): number[] {
    this.open();
    const count = Buffer.alloc(4);
    const ids = Buffer.alloc(4 * NODE_ARRAY_LEN);
    koffi.errno(0);
    const rc = this.getNosFn(count, ids);
    const errno = koffi.errno();
    if (rc !== 0) {
      if (errno === osConstants.errno.ENOENT) return [];
      throw this.fail('ve_get_nos', errno, 'online VE nodes');
    }
    const n = Math.min(count.readUInt32LE(0), NODE_ARRAY_LEN);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(ids.readInt32LE(i * 4));
    return out;
  }

  /** ve_check_pid: true when `pid` is a VE process on `node`. */
  checkPid(node: number, pid: number): boolean {
    this.open();
    koffi.errno(0);
    const rc = this.checkPidFn(node, pid);
    const errno = koffi.errno();
    if (rc === 0) return true;
    if (rc === 1) return false;
    throw this.fail('ve_check_pid', errno, `VE process ${pid} on VE node ${node}`);
  }

  /**
   * ve_map_info: the record count and the temp file VEOS wrote ("" when the count is 0: VEOS
   * sends no file then). The caller reads and unlinks the file.
   */
  mapInfo(node: number, pid: number): { length: number; filename: string } {
    this.open();
    const length = Buffer.alloc(4);
    const filename = Buffer.alloc(VE_PATH_MAX);
    koffi.errno(0);
    const rc = this.mapInfoFn(node, pid, length, filename);
    const errno = koffi.errno();
    const nul = filename.indexOf(0);
    const name = filename.toString('utf8', 0, nul < 0 ? VE_PATH_MAX : nul);
    if (rc !== 0) {
      // Never leave a VEOS temp file behind, even on a failed call.
      if (name) removeQuietly(name);
      throw this.fail('ve_map_info', errno, `VE process ${pid} on VE node ${node}`);
    }
    return { length: length.readUInt32LE(0), filename: name };
  }

  private fail(call: string, errno: number, what: string): PmapError {
    const code = veErrnoCode(errno);
    let msg: string;
    if (code === 'NOT_FOUND') msg = `no ${what}`;
    else if (code === 'PERMISSION_DENIED') msg = `permission denied: ${what}`;
    else msg = `${call} failed for ${what}: ${errnoName(errno)}`;
    return new PmapError(code, msg);
  }
}

/** unlink, ignoring a file that is already gone. */
export function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone or not ours to remove: nothing to clean up
  }
}
