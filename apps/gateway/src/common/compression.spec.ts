import { isCompressible, negotiateEncoding, varyValue } from './compression';

describe('compression helpers', () => {
  test.each([
    ['application/json; charset=utf-8', true],
    ['text/plain; charset=utf-8', true],
    ['application/x-ndjson; charset=utf-8', true],
    ['Application/JSON', true],
    ['text/event-stream', false],
    ['text/html; charset=utf-8', false],
    ['application/octet-stream', false],
    ['', false],
  ])('isCompressible(%j) = %s', (type, want) => {
    expect(isCompressible(type)).toBe(want);
  });

  test.each([
    [undefined, 'identity'],
    ['', 'identity'],
    ['identity', 'identity'],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['*', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br', 'br'],
    ['br;q=0.1, gzip;q=0.9', 'gzip'],
    ['compress, deflate', 'identity'],
    ['GZIP', 'gzip'],
    ['x'.repeat(5000), 'identity'],
  ])('negotiateEncoding(%j) = %s', (header, want) => {
    expect(negotiateEncoding(header)).toBe(want);
  });

  test('varyValue adds Accept and Accept-Encoding once, keeping what is there', () => {
    expect(varyValue(undefined)).toBe('Accept, Accept-Encoding');
    expect(varyValue('accept-encoding')).toBe('accept-encoding, Accept');
    expect(varyValue('Origin')).toBe('Origin, Accept, Accept-Encoding');
    expect(varyValue(['Origin', 'accept, Accept-Encoding'])).toBe(
      'Origin, accept, Accept-Encoding',
    );
  });
});
