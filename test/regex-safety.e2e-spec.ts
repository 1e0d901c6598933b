/**
 * Client regexes never stall an app (issue 13): a real agent (127.0.0.61) and a real gateway in
 * front of it; a process with a 50,000-character command line ending in \x01, and the mapping
 * zoo with its files in a directory named with 200 Q's (so its mapping names and its command line
 * hold 200 Q's). The hostile patterns that once froze the agent for 80 s (`name=`) and the
 * gateway for 117 s (`mapping=`) answer — 200 with the right matches, or 400 naming the
 * parameter — while /healthz and a process map requested beside them answer too. Nothing here
 * measures time: a frozen event loop would hit the jest timeout.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   response bodies are untyped JSON; the assertions are the type check. */
import { spawn, type ChildProcess } from 'node:child_process';
import { status, type ServiceError } from '@grpc/grpc-js';
import { ListProcessesRequest } from '@app/proto';
import { startAgent, type AgentHandle } from './helpers/agents';
import { NO_RATE_LIMIT_YAML, startGateway, type GatewayHandle } from './helpers/gateway';
import { deadlineIn, healthCheck, unary } from './helpers/grpc';
import { eventually, killAndReap, spawnZoo, startAll, type Zoo } from './helpers/processes';
import { httpGet, type HttpAnswer as Res } from './helpers/http';

function get(port: number, path: string, query: Record<string, string> = {}): Promise<Res> {
  const qs = new URLSearchParams(query).toString();
  return httpGet(port, qs ? `${path}?${qs}` : path);
}

const QS = 'Q'.repeat(200);
const LONG_ARG = 'x'.repeat(50_000) + '\x01';

describe('regex safety: hostile name= and mapping= patterns against a real agent and gateway', () => {
  let agent: AgentHandle;
  let zoo: Zoo;
  let gw: GatewayHandle;
  let long: ChildProcess;
  let longPid: number;

  beforeAll(async () => {
    [agent, zoo] = await startAll([
      startAgent({ host: '127.0.0.61', nodeName: 'rx', extraArgs: ['--no-ve'] }),
      spawnZoo({ subdir: QS }),
    ]);
    long = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', LONG_ARG], {
      stdio: 'ignore',
    });
    longPid = long.pid!;
    gw = await startGateway([{ name: 'rx', address: agent.address }], [], NO_RATE_LIMIT_YAML);
    // the long command line is in /proc once node has started
    await eventually('the long command line', async () => {
      const r = await get(gw.port, '/v1/nodes/rx/processes', { name: 'x{300}\\x01$' });
      return r.status === 200 && r.body.processes.some((p: any) => p.pid === longPid);
    });
  });

  afterAll(async () => {
    await Promise.all([gw?.stop(), long && killAndReap(long), agent?.stop(), zoo?.stop()]);
  });

  /** Sends `hostile` together with /healthz and the zoo's map, and checks the bystanders. */
  async function beside(hostile: Promise<Res>[]): Promise<Res[]> {
    const [health, map, ...answers] = await Promise.all([
      get(gw.port, '/healthz'),
      get(gw.port, `/v1/nodes/rx/processes/${zoo.pid}/maps`),
      ...hostile,
    ]);
    expect(health).toEqual({ status: 200, body: { status: 'ok' } });
    expect(map.status).toBe(200);
    expect(map.body.vmas.some((v: any) => v.start === zoo.regions.shared)).toBe(true);
    return answers;
  }

  const pidsOf = (r: Res): number[] => (r.body.processes as any[]).map((p) => p.pid as number);

  test('name=: the measured lookahead attack is a 400 naming name; its RE2 form finds the process', async () => {
    const [refused, found, missed] = await beside([
      get(gw.port, '/v1/nodes/rx/processes', { name: '(?!y).*.*.*\\x01' }),
      get(gw.port, '/v1/nodes/rx/processes', { name: '.*.*.*\\x01' }),
      get(gw.port, '/v1/nodes/rx/processes', { name: '.*.*.*\\x02' }),
    ]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ statusCode: 400, parameter: 'name' });
    expect(refused.body.message).toMatch(/^name: .*lookaround/);
    expect(found.status).toBe(200);
    expect(pidsOf(found)).toContain(longPid);
    expect(pidsOf(found)).not.toContain(zoo.pid);
    expect(missed.status).toBe(200);
    expect(pidsOf(missed)).not.toContain(longPid);
  });

  test('name=: classic catastrophic shapes over the 50,000-character command line', async () => {
    const cases: [string, boolean][] = [
      ['(x+x+)+y', false],
      ['(x+x+)+\\x01$', true],
      ['(x|xx)*\\x01', true],
      ['^(\\S+\\s?)*y$', false],
      ['^(\\S+\\s?)*\\x01$', true], // over the command line's words (NULs shown as spaces)
      ['(.*x){20}\\x01', true],
      ['(?i)(X+)+\\x01', true],
    ];
    const answers = await beside(
      cases.map(([name]) => get(gw.port, '/v1/nodes/rx/processes', { name })),
    );
    cases.forEach(([name, hit], i) => {
      expect({ name, status: answers[i].status }).toEqual({ name, status: 200 });
      expect({ name, hit: pidsOf(answers[i]).includes(longPid) }).toEqual({ name, hit });
    });
  });

  test('name=: what RE2 cannot run is a 400 naming name, before any agent work', async () => {
    const refused = await beside(
      ['(x+)+\\1', '(?<=x)\\x01', '(', 'x'.repeat(1025), '((((.*x){10}){10}){10})'].map((name) =>
        get(gw.port, '/v1/nodes/rx/processes', { name }),
      ),
    );
    for (const r of refused) {
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ statusCode: 400, error: 'Bad Request', parameter: 'name' });
      expect(r.body.message).toMatch(/^name: /);
    }
  });

  test('the agent itself refuses what the gateway would: INVALID_ARGUMENT name_regex, still serving', async () => {
    for (const nameRegex of ['(?!y).*.*.*\\x01', '(x)\\1', '(?:(.*a){30}){30}']) {
      const err = await unary(
        agent.client,
        agent.client.listProcesses,
        ListProcessesRequest.fromPartial({ nameRegex, skipRollup: true }),
        { deadline: deadlineIn(30000) },
      ).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect({ nameRegex, code: err?.code }).toEqual({ nameRegex, code: status.INVALID_ARGUMENT });
      expect(err!.details).toMatch(/^name_regex: /);
    }
    const [hit, health] = await Promise.all([
      unary(
        agent.client,
        agent.client.listProcesses,
        ListProcessesRequest.fromPartial({ nameRegex: '(x+)+\\x01', skipRollup: true }),
        { deadline: deadlineIn(30000) },
      ),
      healthCheck(agent.address),
    ]);
    expect(health).toBe('SERVING');
    expect(hit.processes.map((p) => p.pid)).toContain(longPid);
  });

  test('mapping=: the measured attack is a 400 naming mapping; RE2 patterns over 200 Q find the zoo', async () => {
    const search = (mapping: string) =>
      get(gw.port, '/v1/maps', { mapping, name: `${QS}`, nodes: 'rx', timeout: '60000' });
    const [refused, hostile, found] = await beside([
      search('(?!y)Q*Q*Q*Q*Q*b'),
      search('(Q*)*Q*Q*Q*Q*Q*b$'),
      search(`(Q+)+/shared\\.dat$`),
    ]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ statusCode: 400, parameter: 'mapping' });
    expect(refused.body.message).toMatch(/^mapping: .*lookaround/);
    expect(hostile.status).toBe(200);
    expect(hostile.body.totals.scanned).toBeGreaterThanOrEqual(1);
    expect(hostile.body.matches).toEqual([]);
    expect(found.status).toBe(200);
    const zm = (found.body.matches as any[]).find((m) => m.pid === zoo.pid);
    expect(zm).toBeDefined();
    expect(zm.vmas.map((v: any) => v.start)).toEqual([zoo.regions.shared]);
  });
});
