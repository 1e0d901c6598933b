import { ConfigError, loadConfig } from './config';

const base = ['--listen', '127.0.0.1:0', '--node-name', 'n1', '--insecure'];

describe('loadConfig', () => {
  it('parses flags with defaults', () => {
    expect(loadConfig(base, {})).toEqual({
      listen: '127.0.0.1:0',
      host: '127.0.0.1',
      port: 0,
      nodeName: 'n1',
      insecure: true,
      procRoot: '/proc',
      sysRoot: '/sys',
      batchSize: 1000,
      shutdownTimeoutSec: 5,
      maxHeavyReads: 2,
      maxQueuedReads: 256,
      procReadTimeoutMs: 3000,
      maxHungReads: 8,
      procReadWorkers: 4,
      maxWatches: 64,
      memoryReliefIdleMs: 2000,
      logLevel: 'info',
      ve: true,
    });
    expect(loadConfig([...base, '--max-watches=3', '--proc-read-workers=2'], {})).toMatchObject({
      maxWatches: 3,
      procReadWorkers: 2,
    });
    expect(() => loadConfig([...base, '--max-watches=0'], {})).toThrow(/--max-watches/);
    expect(loadConfig([...base, '--memory-relief-idle-ms=0'], {})).toMatchObject({
      memoryReliefIdleMs: 0,
    });
    expect(() => loadConfig([...base, '--memory-relief-idle-ms=-1'], {})).toThrow(
      /--memory-relief-idle-ms/,
    );
  });

  it('reads every setting from the environment; flags win', () => {
    const c = loadConfig(['--batch-size=9'], {
      PMAPD_AGENT_LISTEN: '[::1]:50051',
      PMAPD_NODE_NAME: 'env-node',
      PMAPD_INSECURE: 'true',
      PMAPD_PROC_ROOT: '/host/proc/',
      PMAPD_SYS_ROOT: '/host/sys',
      PMAPD_BATCH_SIZE: '5',
      PMAPD_PROC_READ_TIMEOUT_MS: '750',
      PMAPD_MAX_HUNG_READS: '3',
    });
    expect(c).toMatchObject({
      host: '::1',
      port: 50051,
      nodeName: 'env-node',
      procRoot: '/host/proc',
      sysRoot: '/host/sys',
      batchSize: 9,
      procReadTimeoutMs: 750,
      maxHungReads: 3,
    });
  });

  it.each([
    [['--listen', '127.0.0.1:0', '--node-name', 'n1'], /mutual TLS needs --tls-cert/],
    [['--listen', '0.0.0.0:0', '--node-name', 'n1', '--insecure'], /loopback/],
    [['--listen', '127.0.0.1:70000', '--node-name', 'n1', '--insecure'], /port/],
    [[...base, '--batch-size', '0'], /--batch-size/],
    [[...base, '--batch-size', '10001'], /--batch-size/],
    [[...base, '--proc-read-timeout-ms', '10'], /--proc-read-timeout-ms/],
    [[...base, '--max-hung-reads', '0'], /--max-hung-reads/],
    [[...base, '--proc-root', 'proc'], /absolute path/],
    [[...base, '--node-name', 'a b'], /--node-name/],
    [[...base, '--log-level', 'loud'], /--log-level/],
    [[...base, '--listen'], /a value is required/],
  ])('rejects %j', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(argv, {})).toThrow(message);
  });

  it('rejects a non-boolean PMAPD_INSECURE', () => {
    expect(() =>
      loadConfig([], { PMAPD_AGENT_LISTEN: 'h:1', PMAPD_NODE_NAME: 'n', PMAPD_INSECURE: 'maybe' }),
    ).toThrow(/PMAPD_INSECURE/);
  });

  it('returns help for --help', () => {
    expect(loadConfig(['--help'], {})).toBe('help');
  });

  it('returns version for --version, before any validation', () => {
    expect(loadConfig(['--version'], {})).toBe('version');
    expect(loadConfig(['--listen', 'nonsense', '--version'], {})).toBe('version');
    expect(loadConfig(['--bogus', '--version'], { PMAPD_BATCH_SIZE: 'x' })).toBe('version');
  });
});
