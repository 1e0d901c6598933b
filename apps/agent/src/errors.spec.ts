import { status } from '@grpc/grpc-js';
import { PmapError } from '@app/domain';
import pino from 'pino';
import { GrpcStatusError, toGrpcError } from './errors';

function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  return { log, lines };
}

describe('toGrpcError', () => {
  const ctx = { rpc: 'GetMemoryMap', pid: 42 };

  it.each([
    ['NOT_FOUND', status.NOT_FOUND, 'no such process 42'],
    ['EXITED', status.NOT_FOUND, 'process 42 exited during the read'],
    ['PERMISSION_DENIED', status.PERMISSION_DENIED, 'denied'],
    ['INVALID_ARGUMENT', status.INVALID_ARGUMENT, 'range: bad'],
    ['UNSUPPORTED', status.UNIMPLEMENTED, 'no VE here'],
    ['FAILED_PRECONDITION', status.FAILED_PRECONDITION, 'needs CAP_SYS_ADMIN'],
    ['UNAVAILABLE', status.UNAVAILABLE, 'cannot list /proc'],
  ] as const)('maps PmapError %s', (code, grpcCode, message) => {
    const { log } = capture();
    const msg = code === 'EXITED' ? 'whatever the reader said' : message;
    expect(toGrpcError(new PmapError(code, msg), log, ctx)).toEqual({
      code: grpcCode,
      details: message,
    });
  });

  it.each([
    ['ENOENT', status.NOT_FOUND, /no such process 42/],
    ['ESRCH', status.NOT_FOUND, /exited during the read/],
    ['EACCES', status.PERMISSION_DENIED, /CAP_SYS_PTRACE/],
    ['EPERM', status.PERMISSION_DENIED, /CAP_SYS_PTRACE/],
  ])('maps errno %s', (errno, grpcCode, message) => {
    const { log } = capture();
    const e = Object.assign(new Error(`${errno}: x`), { code: errno });
    const out = toGrpcError(e, log, ctx);
    expect(out.code).toBe(grpcCode);
    expect(out.details).toMatch(message);
  });

  it('passes GrpcStatusError through', () => {
    const { log } = capture();
    expect(toGrpcError(new GrpcStatusError(status.UNIMPLEMENTED, 'later'), log, ctx)).toEqual({
      code: status.UNIMPLEMENTED,
      details: 'later',
    });
  });

  it('hides anything else behind INTERNAL and logs the stack', () => {
    const { log, lines } = capture();
    const out = toGrpcError(new TypeError('secret detail'), log, ctx);
    expect(out.code).toBe(status.INTERNAL);
    expect(out.details).not.toContain('secret');
    expect(out.details).not.toContain('TypeError');
    expect(lines.join('')).toContain('secret detail');
    expect(lines.join('')).toContain('"stack"');
  });
});
