import { Metadata, status } from '@grpc/grpc-js';
import { PmapError } from '@app/domain';
import pino from 'pino';
import { GrpcStatusError, invalidArgument, toGrpcError, type GrpcError } from './errors';
import { ReadLimiter } from './read-limiter';

function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  return { log, lines };
}

/** The trailing metadata of a status as a plain object. */
function trailers(out: GrpcError): Record<string, string> {
  const md = out.metadata;
  expect(md).toBeInstanceOf(Metadata);
  return Object.fromEntries(Object.entries(md.getMap()).map(([k, v]) => [k, String(v)]));
}

describe('toGrpcError', () => {
  const ctx = { rpc: 'GetMemoryMap', pid: 42 };

  it.each([
    ['NOT_FOUND', status.NOT_FOUND, 'no such process 42', { 'pmap-reason': 'NOT_FOUND' }],
    [
      'EXITED',
      status.NOT_FOUND,
      'process 42 exited during the read',
      { 'pmap-reason': 'PROCESS_EXITED', 'pmap-pid': '42' },
    ],
    [
      'PERMISSION_DENIED',
      status.PERMISSION_DENIED,
      'denied',
      { 'pmap-reason': 'PERMISSION_DENIED', 'pmap-pid': '42' },
    ],
    ['INVALID_ARGUMENT', status.INVALID_ARGUMENT, 'range: bad', { 'pmap-reason': 'INVALID_FIELD' }],
    ['UNSUPPORTED', status.UNIMPLEMENTED, 'no VE here', { 'pmap-reason': 'UNSUPPORTED' }],
    [
      'FAILED_PRECONDITION',
      status.FAILED_PRECONDITION,
      'needs CAP_SYS_ADMIN',
      { 'pmap-reason': 'FAILED_PRECONDITION' },
    ],
    [
      'UNAVAILABLE',
      status.UNAVAILABLE,
      'cannot list /proc',
      { 'pmap-reason': 'READ_FAILED', 'pmap-pid': '42' },
    ],
    [
      'TIMED_OUT',
      status.DEADLINE_EXCEEDED,
      'reading /proc/42/maps did not return within 3000 ms',
      { 'pmap-reason': 'READ_STUCK', 'pmap-pid': '42' },
    ],
  ] as const)('maps PmapError %s with its reason', (code, grpcCode, message, md) => {
    const { log } = capture();
    const msg = code === 'EXITED' ? 'whatever the reader said' : message;
    const out = toGrpcError(new PmapError(code, msg), log, ctx);
    expect(out).toMatchObject({ code: grpcCode, details: message });
    expect(trailers(out)).toEqual(md);
  });

  it('a PmapError naming its pid: PROCESS_NOT_FOUND / PROCESS_EXITED with that pid, not the parse of a message', () => {
    const { log } = capture();
    const nf = toGrpcError(new PmapError('NOT_FOUND', 'gone', undefined, 7), log, ctx);
    expect(trailers(nf)).toEqual({ 'pmap-reason': 'PROCESS_NOT_FOUND', 'pmap-pid': '7' });
    // no pid in the call's context and none in the error: the reader's message stays as it is
    const ex = toGrpcError(new PmapError('EXITED', 'process 9 exited'), log, { rpc: 'Watch' });
    expect(ex.details).toBe('process 9 exited');
    expect(trailers(ex)).toEqual({ 'pmap-reason': 'PROCESS_EXITED' });
    const ex2 = toGrpcError(new PmapError('EXITED', 'x', undefined, 9), log, { rpc: 'Watch' });
    expect(ex2.details).toBe('process 9 exited during the read');
    expect(trailers(ex2)).toEqual({ 'pmap-reason': 'PROCESS_EXITED', 'pmap-pid': '9' });
  });

  it('INVALID_ARGUMENT names its field: pmap-field, from the PmapError or invalidArgument()', () => {
    const { log } = capture();
    const pe = toGrpcError(new PmapError('INVALID_ARGUMENT', 'no', 'range'), log, ctx);
    expect(trailers(pe)).toEqual({ 'pmap-reason': 'INVALID_FIELD', 'pmap-field': 'range' });
    const ge = toGrpcError(invalidArgument('batch_size', 'at most 10000, got 10001'), log, ctx);
    expect(ge).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'at most 10000, got 10001',
    });
    expect(trailers(ge)).toEqual({ 'pmap-reason': 'INVALID_FIELD', 'pmap-field': 'batch_size' });
  });

  it.each([
    ['ENOENT', status.NOT_FOUND, /no such process 42/, 'PROCESS_NOT_FOUND'],
    ['ESRCH', status.NOT_FOUND, /exited during the read/, 'PROCESS_EXITED'],
    ['EACCES', status.PERMISSION_DENIED, /CAP_SYS_PTRACE/, 'PERMISSION_DENIED'],
    ['EPERM', status.PERMISSION_DENIED, /CAP_SYS_PTRACE/, 'PERMISSION_DENIED'],
  ])('maps errno %s', (errno, grpcCode, message, reason) => {
    const { log } = capture();
    const e = Object.assign(new Error(`${errno}: x`), { code: errno });
    const out = toGrpcError(e, log, ctx);
    expect(out.code).toBe(grpcCode);
    expect(out.details).toMatch(message);
    expect(trailers(out)).toEqual({ 'pmap-reason': reason, 'pmap-pid': '42' });
  });

  it('passes GrpcStatusError through with its reason', () => {
    const { log } = capture();
    const out = toGrpcError(
      new GrpcStatusError(status.UNIMPLEMENTED, 'later', 'UNSUPPORTED'),
      log,
      ctx,
    );
    expect(out).toMatchObject({ code: status.UNIMPLEMENTED, details: 'later' });
    expect(trailers(out)).toEqual({ 'pmap-reason': 'UNSUPPORTED' });
  });

  it("the read limiter's refusals carry AGENT_BUSY, DEADLINE and CANCELLED", async () => {
    const { log } = capture();
    const limiter = new ReadLimiter(1, 0);
    const release = await limiter.acquire();
    const reasons: string[] = [];
    const reasonOf = (e: unknown): string => trailers(toGrpcError(e, log, ctx))['pmap-reason'];
    await limiter.acquire().catch((e: unknown) => reasons.push(reasonOf(e)));
    const queued = new ReadLimiter(1, 4);
    const r2 = await queued.acquire();
    await queued.acquire({ deadline: 0 }).catch((e: unknown) => reasons.push(reasonOf(e)));
    const ac = new AbortController();
    ac.abort();
    await queued.acquire({ signal: ac.signal }).catch((e: unknown) => reasons.push(reasonOf(e)));
    release();
    r2();
    expect(reasons).toEqual(['AGENT_BUSY', 'DEADLINE', 'CANCELLED']);
  });

  it('a read aborted because its call was cancelled is CANCELLED, never an internal error', async () => {
    const { log, lines } = capture();
    const ac = new AbortController();
    ac.abort();
    const fsAbort = await import('node:fs/promises')
      .then((fs) => fs.readFile('/proc/self/status', { signal: ac.signal }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    for (const e of [fsAbort, ac.signal.reason]) {
      const out = toGrpcError(e, log, ctx);
      expect(out.code).toBe(status.CANCELLED);
      expect(trailers(out)['pmap-reason']).toBe('CANCELLED');
    }
    expect(lines.join('')).not.toMatch(/internal error/);
  });

  it('hides anything else behind INTERNAL and logs the stack', () => {
    const { log, lines } = capture();
    const out = toGrpcError(new TypeError('secret detail'), log, ctx);
    expect(out.code).toBe(status.INTERNAL);
    expect(out.details).not.toContain('secret');
    expect(out.details).not.toContain('TypeError');
    expect(trailers(out)).toEqual({ 'pmap-reason': 'INTERNAL' });
    expect(lines.join('')).toContain('secret detail');
    expect(lines.join('')).toContain('"stack"');
  });
});
