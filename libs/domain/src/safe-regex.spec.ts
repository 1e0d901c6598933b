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
  it('compiles a catastrophic pattern for the linear-time engine, where it matches correctly', () => {
    const re = compileSafeRegex('(a+)+$', 'mapping');
    // The `l` flag is V8's linear-time engine: checked before matching, since the backtracking
    // engine would take minutes on this input (and jest cannot interrupt a synchronous match).
    expect(re.flags).toContain('l');
    expect(re.test('a'.repeat(100_000) + '!')).toBe(false);
    expect(re.test('aaa')).toBe(true);
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
