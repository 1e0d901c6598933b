/**
 * libc entry points through koffi (no compiled addon): ioctl for PAGEMAP_SCAN and the move_pages
 * system call (glibc has no wrapper; libnuma's is not assumed). Loaded lazily, once.
 */
import koffi from 'koffi';

/** _IOWR('f', 16, struct pm_scan_arg): dir 3 << 30 | size 96 << 16 | 'f' << 8 | 16. */
export const PAGEMAP_SCAN = ((3 << 30) | (96 << 16) | (0x66 << 8) | 16) >>> 0;
export const PM_SCAN_ARG_SIZE = 96;
export const PAGE_REGION_SIZE = 24;

export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;

const SYS_MOVE_PAGES: Partial<Record<string, number>> = { x64: 279, arm64: 239, riscv64: 239 };

export interface Libc {
  /** ioctl(fd, request, arg): -1 on error (then errno()). */
  ioctl(fd: number, request: number, arg: Buffer): number;
  /** move_pages(pid, count, pages, NULL, status, 0) in query mode: 0 or -1 (errno). */
  movePages(pid: number, count: number, pages: Buffer, status: Buffer): number;
  errno(): number;
}

let cached: Libc | null | undefined;

/** The address of a Buffer's memory (stable: Buffer.alloc memory does not move). */
export function bufferAddress(b: Buffer): bigint {
  return BigInt(koffi.address(b));
}

/** The bindings, or null when koffi or libc cannot be loaded here. */
export function libc(): Libc | null {
  if (cached !== undefined) return cached;
  try {
    const lib = koffi.load('libc.so.6');
    const ioctl = lib.func('int ioctl(int fd, unsigned long req, void *arg)');
    const syscall = lib.func('long syscall(long number, ...)');
    const nr = SYS_MOVE_PAGES[process.arch];
    cached = {
      ioctl: (fd, request, arg) => ioctl(fd, request, arg) as number,
      movePages: (pid, count, pages, status) => {
        if (nr === undefined) return -2;

        const r = syscall(
          nr,
          'int',
          pid,
          'unsigned long',
          count,
          'void *',
          pages,
          'void *',
          null,
          'void *',
          status,
          'int',
          0,
        ) as number | bigint;
        return Number(r);
      },
      errno: () => koffi.errno(),
    };
  } catch {
    cached = null;
  }
  return cached;
}
