/*
 * fast-check arbitraries for fuzzing the REST surface (used by bench/soak/soak.js and
 * test/fuzz-rest.e2e-spec.ts): paths under /v1 built from the real route shapes and random
 * segments, query strings from the real parameter names and random ones with hostile values
 * (2^64 and beyond, negative, NaN, unicode, 8 KiB strings, bad percent-encoding, catastrophic
 * regexes), and random headers incl. Accept. SSE watch routes are left out (they stream until
 * the client leaves); valid `timeout` values stay small so a stalled agent cannot hold a request.
 */
'use strict';
const fc = require('fast-check');

const PARAMS = [
  'view',
  'range',
  'clip',
  'format',
  'timeout',
  'name',
  'user',
  'cgroup',
  'limit',
  'sort',
  'kind',
  'maxOrder',
  'compat',
  'runs',
  'by',
  'top',
  'nodes',
  'labels',
  'mapping',
  've',
  'side',
  'maxProcesses',
  'showPath',
  'quiet',
  'kernelNames',
  'kernelThreads',
  'slurmJob',
  'k8sPod',
  'arch',
  'omitFileBacked',
  'omitUnfaulted',
  'detail',
];

const HOSTILE = [
  '',
  '0',
  '-1',
  '1',
  '2',
  '9',
  '4096',
  '65536',
  '2147483647',
  '2147483648',
  '4294967296',
  '9007199254740993',
  '18446744073709551615',
  '18446744073709551616',
  '99999999999999999999999999',
  '1e309',
  '-0',
  '0x10',
  '0xffffffffffffffffff',
  'NaN',
  'Infinity',
  'true',
  'false',
  'null',
  'x',
  'X',
  'XX',
  'd',
  'illumos',
  'default',
  'text',
  'json',
  'order',
  'physical',
  'pagesize',
  'numa',
  'rss',
  'pss',
  'swap',
  'anonHuge',
  'locked',
  'memhist',
  'both',
  'root',
  '*',
  'n*',
  'rack=r1,k!=v',
  '0,',
  ',ffff',
  '7f0000000000,7fffffffffff',
  'ffffffffffffffff,0',
  '10000000000000000000',
  '(a+)+$',
  '(a|a)*$',
  '^(\\w+\\s?)*$',
  '(',
  '[',
  '\\',
  '.*',
  'zoo',
  'job_1',
  'pod-1',
  '\u0000',
  '\u00e9\u00e8',
  '\ud83d\ude00',
  '\u202e',
  '%',
  '%zz',
  '%00',
  '../../etc/passwd',
  'x'.repeat(8192),
  '9'.repeat(500),
  '(a+)+'.repeat(300),
];

const hostileValue = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map(String) },
);

/** Percent-encodes, except sometimes (raw hostile bytes: bad escapes, spaces, unicode). */
const encoded = (arb) =>
  fc.tuple(arb, fc.integer({ min: 0, max: 9 })).map(([raw, r]) => {
    const v = raw.toWellFormed(); // lone surrogates cannot be percent-encoded
    if (r === 0)
      return v.replace(/[\s#?&/\u0000-\u001f\u{7f}-\u{10ffff}]/gu, (c) => encodeURIComponent(c));
    return encodeURIComponent(v);
  });

function restRequestArbitrary({ nodes, pids }) {
  const node = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...nodes) },
    { weight: 1, arbitrary: encoded(hostileValue).filter((s) => s !== '' && !s.includes('/')) },
  );
  const pid = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...pids.map(String)) },
    { weight: 2, arbitrary: encoded(hostileValue).filter((s) => s !== '' && !s.includes('/')) },
  );
  const seg = encoded(hostileValue).filter((s) => s !== '' && s !== 'watch' && !s.includes('/'));
  const path = fc.oneof(
    fc.constant('/v1/nodes'),
    node.map((n) => `/v1/nodes/${n}`),
    node.map((n) => `/v1/nodes/${n}/processes`),
    fc.tuple(node, pid).map(([n, p]) => `/v1/nodes/${n}/processes/${p}/maps`),
    fc.tuple(node, pid).map(([n, p]) => `/v1/nodes/${n}/processes/${p}/histogram`),
    fc.constant('/v1/maps'),
    fc.constant('/v1/audit'),
    fc.constant('/v1/histograms'),
    seg.map((j) => `/v1/jobs/slurm/${j}/memory`),
    fc.array(seg, { minLength: 1, maxLength: 5 }).map((s) => `/v1/${s.join('/')}`),
  );
  const param = fc.tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...PARAMS) },
      { weight: 1, arbitrary: encoded(hostileValue) },
    ),
    encoded(hostileValue),
  );
  const query = fc.array(param, { maxLength: 6 }).map((ps) => {
    // A valid-looking timeout could wait long on a stalled agent: keep valid ones small.
    const kept = ps.map(([k, v]) => {
      if (k !== 'timeout') return [k, v];
      const n = Number(v);
      return Number.isInteger(n) && n > 3000 && n <= 600000 ? [k, '3000'] : [k, v];
    });
    return kept.length ? '?' + kept.map(([k, v]) => `${k}=${v}`).join('&') : '';
  });
  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/);
  const printable = fc.stringMatching(/^[\x20-\x7e]{0,200}$/);
  const headers = fc
    .record(
      {
        accept: fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-ndjson',
          '*/*',
          'text/html;q=0.9, text/plain;q=0.8',
          'image/png',
          '',
        ),
        extra: fc.array(fc.tuple(token, printable), { maxLength: 3 }),
      },
      { requiredKeys: [] },
    )
    .map((h) => {
      const out = {};
      if (h.accept !== undefined) out.accept = h.accept;
      for (const [k, v] of h.extra ?? []) {
        // hop-by-hop / framing headers would break the keep-alive client, not the gateway
        if (
          !/^(content-length|transfer-encoding|connection|host|upgrade|expect|te|trailer|keep-alive)$/i.test(
            k,
          )
        ) {
          out[k] = v.trim();
        }
      }
      return out;
    });
  return fc.record({ path: fc.tuple(path, query).map(([p, q]) => p + q), headers });
}

module.exports = { restRequestArbitrary, HOSTILE, PARAMS };
