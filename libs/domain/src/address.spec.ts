import fc from 'fast-check';
import { formatAddress, MAX_U64, parseHexAddress } from '@app/domain';

describe('the address codec', () => {
  it('formats lower-case hex with 0x and no leading zeros', () => {
    expect(formatAddress(0n)).toBe('0x0');
    expect(formatAddress(0x7f87adf00000n)).toBe('0x7f87adf00000');
    expect(formatAddress(MAX_U64)).toBe('0xffffffffffffffff');
    expect(formatAddress(0xffffffffff600000n)).toBe('0xffffffffff600000');
  });

  it('parses hex with an optional 0x/0X prefix, any case', () => {
    expect(parseHexAddress('7f87adf00000')).toBe(0x7f87adf00000n);
    expect(parseHexAddress('0x7F87ADF00000')).toBe(0x7f87adf00000n);
    expect(parseHexAddress('0X10')).toBe(16n);
    expect(parseHexAddress('ffffffffffffffff')).toBe(MAX_U64);
    expect(parseHexAddress('0000000000000000001')).toBe(1n);
  });

  it('rejects non-hex, empty, a bare prefix and values above 64 bits', () => {
    for (const bad of [
      '',
      '0x',
      'zz',
      '12g',
      ' 12',
      '12 ',
      '-1',
      '1,2',
      '10000000000000000',
      '0x0x1',
    ]) {
      expect(parseHexAddress(bad)).toBeUndefined();
    }
  });

  it('round-trips every 64-bit value and never loses precision above 2^53', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_U64 }), (v) => {
        expect(parseHexAddress(formatAddress(v))).toBe(v);
        expect(parseHexAddress(v.toString(16).toUpperCase())).toBe(v);
      }),
    );
    expect(parseHexAddress('20000000000001')).toBe(2n ** 53n + 1n);
  });
});
