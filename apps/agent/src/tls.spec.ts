import { isLoopbackHost, loadConfig } from './config';
import { effectiveCapabilities, readabilityReport } from './health-port';
import { parseSubjectAltNames, sanAllowed } from './tls';

describe('client identity allow-list', () => {
  it('normalises the SANs Node prints', () => {
    expect(
      parseSubjectAltNames('DNS:gateway, URI:spiffe://pmapd/gateway, IP Address:10.0.0.7'),
    ).toEqual(['DNS:gateway', 'URI:spiffe://pmapd/gateway', 'IP:10.0.0.7']);
    expect(parseSubjectAltNames('DNS:"a,b"')).toEqual(['DNS:a,b']);
    expect(parseSubjectAltNames(undefined)).toEqual([]);
  });

  it('matches whole TYPE:value entries only; * accepts any', () => {
    const allow = ['URI:spiffe://pmapd/gateway', 'DNS:gw'];
    expect(sanAllowed(allow, ['DNS:x', 'URI:spiffe://pmapd/gateway'])).toBe(true);
    expect(sanAllowed(allow, ['URI:spiffe://pmapd/gateway/evil'])).toBe(false);
    expect(sanAllowed(allow, ['DNS:gw.evil'])).toBe(false);
    expect(sanAllowed(allow, [])).toBe(false);
    expect(sanAllowed(['*'], [])).toBe(true);
  });
});

describe('transport configuration', () => {
  const tls = ['--tls-cert', '/c.pem', '--tls-key', '/c.key', '--tls-ca', '/ca.pem'];

  it('accepts mTLS on any address with an allow-list', () => {
    const c = loadConfig(
      [
        '--listen',
        '0.0.0.0:50051',
        '--node-name',
        'n',
        ...tls,
        '--allow-client',
        'DNS:gw, URI:spiffe://x',
      ],
      {},
    );
    expect(c).toMatchObject({
      insecure: false,
      tls: {
        cert: '/c.pem',
        key: '/c.key',
        ca: '/ca.pem',
        allowClients: ['DNS:gw', 'URI:spiffe://x'],
        reloadIntervalMs: 5000,
      },
    });
  });

  it.each([
    [['--listen', '0.0.0.0:1', '--node-name', 'n', ...tls], /--allow-client/],
    [['--listen', '0.0.0.0:1', '--node-name', 'n', ...tls, '--allow-client', 'gw'], /TYPE:value/],
    [['--listen', '[::]:1', '--node-name', 'n', '--insecure'], /loopback/],
    [
      ['--listen', '127.0.0.1:1', '--node-name', 'n', '--insecure', '--allow-client', '*'],
      /cannot be combined/,
    ],
  ])('rejects %j', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(message);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.9.8.7', '::1', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(h)).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com']) {
      expect(isLoopbackHost(h)).toBe(false);
    }
  });

  it('parses the side ports', () => {
    const c = loadConfig(
      [
        '--listen',
        '127.0.0.1:0',
        '--node-name',
        'n',
        '--insecure',
        '--health-listen',
        '0.0.0.0:8081',
        '--metrics-listen',
        '127.0.0.1:9100',
      ],
      {},
    );
    expect(c).toMatchObject({
      healthListen: { host: '0.0.0.0', port: 8081 },
      metricsListen: { host: '127.0.0.1', port: 9100 },
    });
  });
});

describe('capability report', () => {
  it('decodes CapEff', () => {
    // CAP_SYS_PTRACE (19) only
    expect(effectiveCapabilities('CapEff:\t0000000000080000\n')).toEqual({
      CAP_DAC_READ_SEARCH: false,
      CAP_SYS_PTRACE: true,
      CAP_SYS_ADMIN: false,
    });
  });

  it('says what cannot be read and why', () => {
    const r = readabilityReport(
      { CAP_DAC_READ_SEARCH: false, CAP_SYS_PTRACE: true, CAP_SYS_ADMIN: false },
      { readOtherUsers: true, pfnsReadable: false },
      1000,
    );
    expect(r.can).toContain("maps, smaps and rollups of other users' processes");
    expect(r.cannot.join('\n')).toMatch(/CAP_DAC_READ_SEARCH/);
    expect(r.cannot.join('\n')).toMatch(/CAP_SYS_ADMIN/);
  });
});
