import { BadRequestException, NotFoundException } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { PmapError } from '@app/domain';
import pino from 'pino';
import { AgentCallError } from '../cluster/agent-connection';
import { ApiError } from './api-error';
import { AllExceptionsFilter } from './exception.filter';

describe('AllExceptionsFilter.toBody', () => {
  const filter = new AllExceptionsFilter(pino({ level: 'silent' }));
  const agent = (code: status, details = 'x'): AgentCallError =>
    new AgentCallError('n1', '127.0.0.2:5', code, details, 250);

  test.each([
    [status.NOT_FOUND, 404],
    [status.PERMISSION_DENIED, 403],
    [status.UNAVAILABLE, 503],
    [status.DEADLINE_EXCEEDED, 504],
    [status.UNIMPLEMENTED, 501],
    [status.INVALID_ARGUMENT, 400],
    [status.FAILED_PRECONDITION, 412],
    [status.CANCELLED, 499],
    [status.INTERNAL, 502],
    [status.UNKNOWN, 502],
  ])('gRPC %s -> HTTP %s naming the node', (code, http) => {
    const b = filter.toBody(agent(code));
    expect(b.statusCode).toBe(http);
    expect(b.node).toBe('n1');
  });

  test('agent RESOURCE_EXHAUSTED from its heavy-read limiter -> 429; other ones 502', () => {
    expect(
      filter.toBody(agent(status.RESOURCE_EXHAUSTED, 'agent busy: 2 heavy reads')).statusCode,
    ).toBe(429);
    expect(
      filter.toBody(agent(status.RESOURCE_EXHAUSTED, 'Received message larger than max'))
        .statusCode,
    ).toBe(502);
  });

  test('deadline message carries the deadline; UNAVAILABLE the address', () => {
    const passed = agent(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 0.251s');
    expect(filter.toBody(passed).message).toBe(
      "the agent of node 'n1' did not answer within 250 ms",
    );
    // the agent's own DEADLINE_EXCEEDED (a /proc read stuck in the kernel) keeps its reason
    const stuck = agent(
      status.DEADLINE_EXCEEDED,
      'reading /proc/7/maps did not return within 3000 ms',
    );
    expect(filter.toBody(stuck)).toMatchObject({
      statusCode: 504,
      message: "node 'n1': reading /proc/7/maps did not return within 3000 ms",
    });
    expect(filter.toBody(agent(status.UNAVAILABLE)).message).toContain('127.0.0.2:5');
  });

  test('agent INVALID_ARGUMENT naming a field -> parameter', () => {
    expect(filter.toBody(agent(status.INVALID_ARGUMENT, 'range: low above high')).parameter).toBe(
      'range',
    );
  });

  test('ApiError as is; PmapError by code; Nest HttpException keeps its status', () => {
    const e = new ApiError(400, 'bad', { parameter: 'view', allowed: ['x'] });
    expect(filter.toBody(e)).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'bad',
      parameter: 'view',
      allowed: ['x'],
    });
    expect(filter.toBody(new PmapError('INVALID_ARGUMENT', 'range: no', 'range'))).toMatchObject({
      statusCode: 400,
      parameter: 'range',
    });
    expect(filter.toBody(new PmapError('EXITED', 'gone')).statusCode).toBe(404);
    expect(filter.toBody(new NotFoundException('Cannot GET /x'))).toMatchObject({
      statusCode: 404,
      message: 'Cannot GET /x',
    });
    expect(filter.toBody(new BadRequestException(['a', 'b'])).message).toBe('a; b');
  });

  test('anything else: generic 500 without the error text or stack', () => {
    const b = filter.toBody(new TypeError('secret internals at foo.js:1'));
    expect(b).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'internal error (logged by the gateway)',
    });
  });
});
