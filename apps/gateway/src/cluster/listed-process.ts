/**
 * A fleet session's answers as the gateway reads them (docs/fleet.md "Sessions"): the
 * ListProcesses answer's processes are kept as their encoded bytes (a view of the received
 * message, no copy) and decoded only when read. An audit ranks a node's top N on ONE figure of
 * each process, read straight from the bytes, and decodes only the fleet's winners: the other
 * candidates' 20-odd bigints and strings are never made.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import {
  FleetError,
  GetNodeInfoResponse,
  ProcessInfo,
  ProcessTotals,
  type ListProcessesResponse,
} from '@app/proto';

/** The figures a listed process can be ranked by without decoding it (MemoryRollup fields). */
export type ListedFigure = 'rss' | 'pss' | 'swap' | 'anonHugePages' | 'locked';

const ROLLUP_FIELD: Record<ListedFigure, number> = {
  rss: 1,
  pss: 2,
  anonHugePages: 12,
  swap: 15,
  locked: 17,
};

// ProcessInfo's tags (field number << 3 | wire type) the scan reads.
const TAG_PID = (1 << 3) | 0;
const TAG_ROLLUP = (11 << 3) | 2;
const TAG_RSS = (16 << 3) | 0;

/** One process of a ListProcesses answer: its bytes, decoded once when first read. */
export class ListedProcess {
  private decoded: ProcessInfo | undefined;

  private constructor(
    /** The received message and where this process's bytes are in it (no copy, no view). */
    private readonly buf: Uint8Array | undefined,
    private readonly start: number,
    private readonly end: number,
    decoded: ProcessInfo | undefined,
    /** Applied to the decoded process (the caller's redaction), once. */
    private redact?: (m: ListProcessesResponse) => unknown,
  ) {
    this.decoded = decoded;
  }

  /** A process as it arrived over the wire (decoded on first read). */
  static ofBytes(buf: Uint8Array, start: number, end: number): ListedProcess {
    return new ListedProcess(buf, start, end, undefined);
  }

  /** A process already decoded (a unary answer). */
  static of(p: ProcessInfo): ListedProcess {
    return new ListedProcess(undefined, 0, 0, p);
  }

  /** Redacts the process when it is decoded (before anyone reads it). */
  redactWith(redact: (m: ListProcessesResponse) => unknown): void {
    if (this.decoded) redact(alone(this.decoded));
    else this.redact = redact;
  }

  /** The whole process (decoded and redacted the first time). */
  process(): ProcessInfo {
    if (this.decoded) return this.decoded;
    const p = ProcessInfo.decode(this.buf!.subarray(this.start, this.end));
    this.redact?.(alone(p));
    this.decoded = p;
    return p;
  }

  /**
   * What `auditValue` gives for the decoded process: the rollup's figure (0 when the rollup is
   * there without it), for 'rss' without a rollup /proc/PID/stat's rss, else undefined.
   */
  figure(by: ListedFigure): bigint | undefined {
    if (this.decoded) {
      const r = this.decoded.rollup;
      return by === 'rss' ? (r?.rss ?? this.decoded.rss) : r?.[by];
    }
    const c = new Cursor(this.buf!, this.start, this.end);
    let rollup: bigint | undefined;
    let rss = 0n;
    while (c.pos < c.end) {
      const tag = c.varint();
      if (tag === TAG_ROLLUP) rollup = rollupField(c, ROLLUP_FIELD[by]);
      else if (tag === TAG_RSS) rss = c.uint64();
      else if (!c.skip(tag)) break;
    }
    return rollup ?? (by === 'rss' ? rss : undefined);
  }

  /** The process id (ties of the ranking), without decoding the rest. */
  readPid(): number {
    if (this.decoded) return this.decoded.pid;
    const c = new Cursor(this.buf!, this.start, this.end);
    let pid = 0;
    while (c.pos < c.end) {
      const tag = c.varint();
      if (tag === TAG_PID) pid = c.int32();
      else if (!c.skip(tag)) break;
    }
    return pid;
  }
}

/**
 * A read position in protobuf bytes (the few wire rules the scans need; a malformed message
 * throws, as the generated decoder does).
 */
class Cursor {
  constructor(
    private readonly buf: Uint8Array,
    public pos: number,
    public end: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.end) throw new RangeError('premature end of a protobuf message');
    return this.buf[this.pos++];
  }

  /** A varint that fits a Number exactly (tags, lengths, 32-bit fields): up to 2^53. */
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      const b = this.byte();
      if (mul < 2 ** 53) v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return v;
    }
    throw new RangeError('a protobuf varint longer than 10 bytes');
  }

  /** An int32 varint (negative ones take 10 bytes): its low 32 bits, signed. */
  int32(): number {
    let v = 0;
    for (let k = 0; k < 10; k++) {
      const b = this.byte();
      if (k < 5) v |= (b & 0x7f) << (7 * k);
      if (b < 0x80) return v | 0;
    }
    throw new RangeError('a protobuf varint longer than 10 bytes');
  }

  /** A uint64 varint as the bigint the generated decoder gives. */
  uint64(): bigint {
    let v = 0;
    let mul = 1;
    // 7 bytes (49 bits) are exact in a Number; longer values go on in bigint
    for (let k = 0; k < 7; k++) {
      const b = this.byte();
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return BigInt(v);
    }
    let big = BigInt(v);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      const b = this.byte();
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, big);
    }
    throw new RangeError('a protobuf varint longer than 10 bytes');
  }

  /** Skips the value of a field of this tag; false at an end (group end, tag 0), as decoded. */
  skip(tag: number): boolean {
    if ((tag & 7) === 4 || tag === 0) return false;
    switch (tag & 7) {
      case 0:
        while (this.byte() >= 0x80);
        return true;
      case 1:
        this.advance(8);
        return true;
      case 2:
        this.advance(this.varint());
        return true;
      case 5:
        this.advance(4);
        return true;
      default:
        throw new RangeError(`protobuf wire type ${tag & 7} where none is expected`);
    }
  }

  advance(n: number): void {
    if (n > this.end - this.pos) throw new RangeError('premature end of a protobuf message');
    this.pos += n;
  }
}

/** A ListProcesses answer of one process (what redaction reads). */
function alone(p: ProcessInfo): ListProcessesResponse {
  return { processes: [p], totalMatched: 1, unreadable: 0, totals: undefined, nextOffset: 0 };
}

/** One uint64 field of the MemoryRollup at the cursor (0 when absent, as decoded). */
function rollupField(c: Cursor, field: number): bigint {
  const length = c.varint();
  if (length > c.end - c.pos) throw new RangeError('premature end of a protobuf message');
  const end = c.end;
  c.end = c.pos + length;
  const want = (field << 3) | 0;
  let v = 0n;
  while (c.pos < c.end) {
    const tag = c.varint();
    if (tag === want) v = c.uint64();
    else if (!c.skip(tag)) break;
  }
  c.pos = c.end;
  c.end = end;
  return v;
}

/** A ListProcesses answer whose processes are decoded when read. */
export interface ListedProcesses extends Omit<ListProcessesResponse, 'processes'> {
  processes: ListedProcess[];
}

/** A FleetSessionResponse with its ListProcesses answer as ListedProcesses. */
export interface SessionAnswer {
  id: number;
  listProcesses?: ListedProcesses;
  nodeInfo?: GetNodeInfoResponse;
  error?: FleetError;
}

/** The whole answer, every process decoded (what FleetSessionResponse.decode would give). */
export function materialize(l: ListedProcesses): ListProcessesResponse {
  const { processes, ...rest } = l;
  return { ...rest, processes: processes.map((p) => p.process()) };
}

/**
 * The fleet session stream's deserializer: FleetSessionResponse with the processes of a
 * ListProcesses answer left as views of `buf` (same fields and rules as the generated decoder).
 */
export function decodeSessionAnswer(buf: Uint8Array): SessionAnswer {
  const rd = new BinaryReader(buf);
  const a: SessionAnswer = { id: 0 };
  while (rd.pos < rd.len) {
    const tag = rd.uint32();
    switch (tag) {
      case (1 << 3) | 0:
        a.id = rd.uint32();
        continue;
      case (10 << 3) | 2:
        a.listProcesses = decodeList(buf, rd, rd.uint32());
        continue;
      case (11 << 3) | 2:
        a.nodeInfo = GetNodeInfoResponse.decode(rd, rd.uint32());
        continue;
      case (12 << 3) | 2:
        a.error = FleetError.decode(rd, rd.uint32());
        continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    rd.skip(tag & 7);
  }
  return a;
}

function decodeList(buf: Uint8Array, rd: BinaryReader, length: number): ListedProcesses {
  const end = rd.pos + length;
  const l: ListedProcesses = {
    processes: [],
    totalMatched: 0,
    unreadable: 0,
    totals: undefined,
    nextOffset: 0,
  };
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case (1 << 3) | 2: {
        const len = rd.uint32();
        const start = rd.pos;
        rd.pos += len;
        if (rd.pos > rd.len) throw new RangeError('premature end of a protobuf message');
        l.processes.push(ListedProcess.ofBytes(buf, start, start + len));
        continue;
      }
      case (2 << 3) | 0:
        l.totalMatched = rd.uint32();
        continue;
      case (3 << 3) | 0:
        l.unreadable = rd.uint32();
        continue;
      case (4 << 3) | 2:
        l.totals = ProcessTotals.decode(rd, rd.uint32());
        continue;
      case (5 << 3) | 0:
        l.nextOffset = rd.uint32();
        continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    rd.skip(tag & 7);
  }
  return l;
}
