import { addr, size } from './json';

describe('REST edge number formats', () => {
  test('sizes: numbers below 2^53, decimal strings above', () => {
    expect(size(4096n)).toBe(4096);
    expect(size(2n ** 53n - 1n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(size(2n ** 53n)).toBe('9007199254740992');
    expect(size(2n ** 64n - 1n)).toBe('18446744073709551615');
  });
  test('addresses through the one codec', () => {
    expect(addr(0xffffffffff600000n)).toBe('0xffffffffff600000');
    expect(addr(0n)).toBe('0x0');
  });
});
