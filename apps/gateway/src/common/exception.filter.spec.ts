import { BadRequestException, NotFoundException } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { PmapError } from '@app/domain';
import pino from 'pino';
import { AgentCallError, type AgentErrorTrailers } from '../cluster/agent-connection';
import { ApiError } from './api-error';
import { agentHttpStatus, AllExceptionsFilter } from './exception.filter';

describe('AllExceptionsFilter.toBody', () => {
  const filter = new AllExceptionsFilter(pino({ level: 'silent' }));
  const agent = (code: status, details = 'x', trailers: AgentErrorTrailers = {}): AgentCallError =>
    new AgentCallError('n1', '127.0.0.2:5', code, details, 250, trailers);

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

  test('(code, reason): AGENT_BUSY -> 429 whatever the message; other RESOURCE_EXHAUSTED 502', () => {
    const busy = agent(status.RESOURCE_EXHAUSTED, 'whatever the agent says', {
      reason: 'AGENT_BUSY',
    });
    expect(filter.toBody(busy)).toMatchObject({
      statusCode: 429,
      reason: 'AGENT_BUSY',
      node: 'n1',
    });
    // the message alone decides nothing any more
    expect(
      filter.toBody(agent(status.RESOURCE_EXHAUSTED, 'agent busy: 2 heavy reads')).statusCode,
    ).toBe(502);
    expect(
      filter.toBody(agent(status.RESOURCE_EXHAUSTED, 'Received message larger than max')),
    ).toMatchObject({ statusCode: 502 });
    expect(filter.toBody(agent(status.RESOURCE_EXHAUSTED, 'x')).reason).toBeUndefined();
  });

  test('a reason in a row of another code does not move the status: its code decides', () => {
    expect(filter.toBody(agent(status.NOT_FOUND, 'x', { reason: 'AGENT_BUSY' })).statusCode).toBe(
      404,
    );
  });

  test("the agent's identity refusal of the gateway is 502, not the client's 403", () => {
    const refused = agent(status.PERMISSION_DENIED, 'client identity x is not allowed', {
      reason: 'CLIENT_NOT_ALLOWED',
    });
    expect(filter.toBody(refused).statusCode).toBe(502);
    const denied = agent(status.PERMISSION_DENIED, 'x', { reason: 'PERMISSION_DENIED', pid: 4 });
    expect(filter.toBody(denied)).toMatchObject({ statusCode: 403, reason: 'PERMISSION_DENIED' });
  });

  test('a deadline without a reason passed in transit: the message names the deadline', () => {
    // whatever grpc-js words it
    const passed = agent(status.DEADLINE_EXCEEDED, 'any transport wording');
    expect(passed.deadlinePassed).toBe(true);
    expect(filter.toBody(passed)).toEqual({
      statusCode: 504,
      error: 'Gateway Timeout',
      message: "the agent of node 'n1' did not answer within 250 ms",
      node: 'n1',
    });
    // the agent's own DEADLINE_EXCEEDED (a /proc read stuck in the kernel) keeps its message
    const stuck = agent(status.DEADLINE_EXCEEDED, 'Deadline exceeded: reading /proc/7/maps', {
      reason: 'READ_STUCK',
      pid: 7,
    });
    expect(stuck.deadlinePassed).toBe(false);
    expect(filter.toBody(stuck)).toMatchObject({
      statusCode: 504,
      reason: 'READ_STUCK',
      message: "node 'n1': Deadline exceeded: reading /proc/7/maps",
    });
    expect(filter.toBody(agent(status.UNAVAILABLE)).message).toContain('127.0.0.2:5');
  });

  test('agent INVALID_FIELD -> 400 with parameter from pmap-field, never from the message', () => {
    const b = filter.toBody(
      agent(status.INVALID_ARGUMENT, 'low above high', { reason: 'INVALID_FIELD', field: 'range' }),
    );
    expect(b).toMatchObject({ statusCode: 400, parameter: 'range', reason: 'INVALID_FIELD' });
    expect(
      filter.toBody(agent(status.INVALID_ARGUMENT, 'range: low above high')).parameter,
    ).toBeUndefined();
  });

  test('agentHttpStatus: unknown codes are 502', () => {
    expect(agentHttpStatus({ code: status.DATA_LOSS, reason: undefined })).toBe(502);
    expect(agentHttpStatus({ code: status.UNAVAILABLE, reason: 'READ_FAILED' })).toBe(503);
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
