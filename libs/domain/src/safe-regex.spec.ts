import { compileSafeRegex, isPmapError, MAX_SAFE_REGEX_LENGTH } from './index';

function refusal(src: string, field: string): { code: string; field?: string; message: string } {
  try {
    compileSafeRegex(src, field);
  } catch (e) {
    if (isPmapError(e)) return e;
    throw e;
  }
  throw new Error(`expected ${src} to be refused`);
}

describe('compileSafeRegex', () => {
  it('compiles a catastrophic pattern that still matches in linear time', () => {
    const re = compileSafeRegex('(a+)+$', 'mapping');
    const t0 = performance.now();
    expect(re.test('a'.repeat(100_000) + '!')).toBe(false);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('refuses bad, too long and non-linear nested patterns naming the field', () => {
    for (const src of ['(', 'a'.repeat(MAX_SAFE_REGEX_LENGTH + 1), '((a)\\2)*(?=x)']) {
      const e = refusal(src, 'mapping');
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.field).toBe('mapping');
      expect(e.message).toMatch(/^mapping: /);
    }
  });
});
