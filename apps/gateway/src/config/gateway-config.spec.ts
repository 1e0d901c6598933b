import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, resolveConfig, splitHostPort } from './gateway-config';

describe('gateway configuration', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'gw-config-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const problems = (argv: string[], env: NodeJS.ProcessEnv = {}): string[] => {
    try {
      resolveConfig(argv, env);
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    return [];
  };

  test('defaults: one node "local" at 127.0.0.1:50051, 5 s health, 10 s deadline', () => {
    const { config } = resolveConfig([], {});
    expect(config.listen).toBe('127.0.0.1:8080');
    expect(config.nodes).toEqual([{ name: 'local', address: '127.0.0.1:50051', labels: {} }]);
    expect(config.healthIntervalMs).toBe(5000);
    expect(config.requestTimeoutMs).toBe(10000);
    expect(config.nodeInfoMaxAgeMs).toBe(60000);
  });

  test('flags win over environment; --flag=value form', () => {
    const { config } = resolveConfig(['--listen=127.0.0.1:0', '--agent', '10.0.0.1:7'], {
      PMAPD_GATEWAY_LISTEN: '0.0.0.0:9',
      PMAPD_GATEWAY_NODE_NAME: 'box',
      PMAPD_GATEWAY_REQUEST_TIMEOUT_MS: '2500',
      PMAPD_GATEWAY_NODE_INFO_MAX_AGE_MS: '5000',
    });
    expect(config.nodeInfoMaxAgeMs).toBe(5000);
    expect(config.listen).toBe('127.0.0.1:0');
    expect(config.nodes[0]).toMatchObject({ name: 'box', address: '10.0.0.1:7' });
    expect(config.requestTimeoutMs).toBe(2500);
  });

  test('YAML nodes with labels, DNS discovery and timings', () => {
    const p = file(
      'ok.yaml',
      [
        'nodes:',
        '  - { name: a, address: "10.0.0.1:50051", labels: { rack: 1, gpu: true } }',
        '  - { name: b, address: "[::1]:50051" }',
        'discovery: { dns: { name: agents.example, port: 50051 } }',
        'healthIntervalMs: 1000',
      ].join('\n'),
    );
    const { config } = resolveConfig(['--config', p], {});
    expect(config.nodes.map((n) => n.name)).toEqual(['a', 'b']);
    expect(config.nodes[0].labels).toEqual({ rack: '1', gpu: 'true' });
    expect(config.dns).toMatchObject({ name: 'agents.example', port: 50051, intervalMs: 30000 });
    expect(config.healthIntervalMs).toBe(1000);
    expect(splitHostPort(config.nodes[1].address)).toEqual({ host: '::1', port: 50051 });
  });

  test('every problem is reported at once', () => {
    const p = file(
      'bad.yaml',
      'nodes:\n  - { name: a, address: nope }\n  - { name: a, address: "h:1" }\n  - { name: c, address: "h:70000" }\nextra: 1\n',
    );
    const list = problems([
      '--config',
      p,
      '--health-interval-ms',
      '5',
      '--node-info-max-age-ms',
      '10',
    ]);
    expect(list.join('\n')).toContain('config.nodes.0.address: address must be host:port');
    expect(list.join('\n')).toContain("duplicate node name 'a'");
    expect(list.join('\n')).toContain('port 70000 is out of range');
    expect(list.join('\n')).toContain('extra');
    expect(list.join('\n')).toContain('healthIntervalMs');
    expect(list.join('\n')).toContain('nodeInfoMaxAgeMs');
  });

  test('DNS discovery without port (and without srv) is rejected; empty config too', () => {
    const p = file('dns.yaml', 'discovery: { dns: { name: x } }\n');
    expect(problems(['--config', p]).join('\n')).toContain('port: required unless srv is true');
    const e = file('empty.yaml', '');
    expect(problems(['--config', e]).join('\n')).toContain('nothing to serve');
  });

  test('unknown flags, missing values, non-numeric numbers, --agent with --config', () => {
    expect(problems(['--nope'])).toEqual(["unknown option '--nope'"]);
    expect(problems(['--listen'])).toEqual(["option '--listen' needs a value"]);
    expect(problems(['--request-timeout-ms', '1e3']).join()).toContain('request-timeout-ms');
    const p = file('one.yaml', 'nodes: [{ name: a, address: "h:1" }]\n');
    expect(problems(['--config', p, '--agent', 'h:2']).join()).toContain(
      '--agent cannot be combined',
    );
  });
});
