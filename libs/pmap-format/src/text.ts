/**
 * Small text helpers shared by the renderers: padding without per-call allocation of the pad and
 * cached decimal strings for the small numbers that fill most smaps cells.
 */

const SPACES = ' '.repeat(512);
const ZEROS = '0'.repeat(64);
const EQUALS = '='.repeat(256);

/** Right-justifies `s` in `width` columns (printf "%*s"); never truncates. */
export function padLeft(s: string, width: number): string {
  const n = width - s.length;
  if (n <= 0) return s;
  return (n <= 512 ? SPACES.slice(0, n) : ' '.repeat(n)) + s;
}

/** Left-justifies `s` in `width` columns (printf "%-*s"); never truncates. */
export function padRight(s: string, width: number): string {
  const n = width - s.length;
  if (n <= 0) return s;
  return s + (n <= 512 ? SPACES.slice(0, n) : ' '.repeat(n));
}

/** Zero-pads `s` on the left to `width` (printf "%0*x" on a digit string). */
export function zeroPad(s: string, width: number): string {
  const n = width - s.length;
  if (n <= 0) return s;
  return (n <= 64 ? ZEROS.slice(0, n) : '0'.repeat(n)) + s;
}

export function spaces(n: number): string {
  if (n <= 0) return '';
  return n <= 512 ? SPACES.slice(0, n) : ' '.repeat(n);
}

export function equalsRun(n: number): string {
  if (n <= 0) return '';
  return n <= 256 ? EQUALS.slice(0, n) : '='.repeat(n);
}

const DEC_CACHE_SIZE = 65536;
const DEC_CACHE: string[] = new Array<string>(DEC_CACHE_SIZE);
for (let i = 0; i < DEC_CACHE_SIZE; i++) DEC_CACHE[i] = String(i);
const DEC_LIMIT = BigInt(DEC_CACHE_SIZE);

/** Decimal text of a non-negative bigint (cached below 65536). */
export function dec(v: bigint): string {
  return v >= 0n && v < DEC_LIMIT ? DEC_CACHE[Number(v)] : v.toString();
}

/** printf's "%lu" of a 64-bit value: negative inputs wrap as unsigned. */
export function decU64(v: bigint): string {
  return v < 0n ? BigInt.asUintN(64, v).toString() : dec(v);
}

/**
 * An append-only byte buffer for the big renders: ASCII written byte by byte, numbers written as
 * right-justified digits without creating strings, names as UTF-8. One string at the end.
 */
export class ByteOut {
  private buf: Buffer;
  pos = 0;

  constructor(estimate: number) {
    this.buf = Buffer.allocUnsafe(Math.max(estimate, 1024));
  }

  private grow(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A string of ASCII (or any text: non-ASCII goes through UTF-8). */
  text(s: string): void {
    const len = s.length;
    this.grow(len * 3);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos = p;
        this.pos += b.write(s.slice(i), p, 'utf8');
        return;
      }
      b[p++] = c;
    }
    this.pos = p;
  }

  /** `s` right-justified in `width` (ASCII only). */
  right(s: string, width: number): void {
    const pad = width - s.length;
    if (pad > 0) this.spaces(pad);
    this.text(s);
  }

  spaces(n: number): void {
    if (n <= 0) return;
    this.grow(n);
    if (n > 32) {
      this.buf.fill(32, this.pos, this.pos + n);
      this.pos += n;
      return;
    }
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = 32;
    this.pos = p;
  }

  byte(c: number): void {
    this.grow(1);
    this.buf[this.pos++] = c;
  }

  /** A non-negative integer (exact below 2^53) right-justified in `width`. */
  num(v: number, width: number): void {
    if (v >= 9007199254740992) {
      this.right(BigInt(v).toString(), width);
      return;
    }
    let d = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) d++;
    const total = d > width ? d : width;
    this.grow(total);
    const b = this.buf;
    let p = this.pos;
    for (let i = d; i < width; i++) b[p++] = 32;
    let q = p + d;
    p = q;
    let t = v;
    do {
      const next = Math.floor(t / 10);
      b[--q] = 48 + (t - next * 10);
      t = next;
    } while (t > 0);
    this.pos = p;
  }

  /** A non-negative 64-bit value as lower-case hex, zero-padded to `width` (printf "%0*lx"). */
  hex(v: bigint, width: number): void {
    if (v >= 9007199254740992n || v < 0n) {
      this.text(zeroPad(v.toString(16), width));
      return;
    }
    const n = Number(v);
    let d = 1;
    for (let t = n; t >= 16; t = Math.floor(t / 16)) d++;
    const total = d > width ? d : width;
    this.grow(total);
    const b = this.buf;
    let p = this.pos;
    for (let i = d; i < width; i++) b[p++] = 48;
    let q = p + d;
    p = q;
    let t = n;
    do {
      const next = Math.floor(t / 16);
      const digit = t - next * 16;
      b[--q] = digit < 10 ? 48 + digit : 87 + digit;
      t = next;
    } while (t > 0);
    this.pos = p;
  }

  /** Bytes src[from, to) as they are. */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    this.grow(n);
    const b = this.buf;
    let p = this.pos;
    if (n > 32) {
      b.set(src.subarray(from, to), p);
      p += n;
    } else {
      for (let k = from; k < to; k++) b[p++] = src[k];
    }
    this.pos = p;
  }

  /**
   * The hex digits src[from, to) (at least one) as printf "%0*lx" prints their value: leading
   * zeros dropped, zero-padded to `width`, lower case. No number is made.
   */
  hexDigits(src: Uint8Array, from: number, to: number, width: number): void {
    while (to - from > 1 && src[from] === 48) from++;
    const d = to - from;
    this.grow(d > width ? d : width);
    const b = this.buf;
    let p = this.pos;
    for (let i = d; i < width; i++) b[p++] = 48;
    // '0'-'9' | 0x20 are themselves; 'A'-'F' | 0x20 are 'a'-'f'.
    for (let k = from; k < to; k++) b[p++] = src[k] | 0x20;
    this.pos = p;
  }

  toString(): string {
    return this.buf.toString('utf8', 0, this.pos);
  }

  /** The bytes written (a view of the buffer: no copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
