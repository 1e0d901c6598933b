import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import {
  compileSafeRegex,
  isPmapError,
  MAX_MATCHED_CHARS,
  MAX_SAFE_REGEX_LENGTH,
  MAX_SAFE_REGEX_PROGRAM,
  type PmapError,
} from './index';

function refusal(src: string, field: string): PmapError {
  try {
    compileSafeRegex(src, field);
  } catch (e) {
    if (isPmapError(e)) return e;
    throw e;
  }
  throw new Error(`expected ${src} to be refused`);
}

/** A 50,000-character command line (the shape of the measured attack's input). */
const CMDLINE = '/usr/bin/python3 ' + 'x'.repeat(50_000 - 17);
const QS = '/srv/data/' + 'Q'.repeat(200);

/** JS RegExp's answer, or undefined when it does not come within 200 ms (backtracking). */
function jsTest(src: string, s: string): boolean | undefined {
  try {
    return runInNewContext('new RegExp(src).test(s)', { src, s }, { timeout: 200 }) as boolean;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return undefined;
    throw e;
  }
}

describe('compileSafeRegex (RE2)', () => {
  it('runs the measured hostile patterns in linear time, or refuses them naming the field', () => {
    // Both froze a thread for more than 80 s under the old backtracking check.
    const e1 = refusal('(?!y).*.*.*\\x01', 'name');
    expect(e1).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'name' });
    expect(e1.message).toMatch(/^name: .*lookaround/);
    const e2 = refusal('(?!y)Q*Q*Q*Q*Q*b', 'mapping');
    expect(e2).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'mapping' });
    // Without the lookahead they are ordinary RE2 patterns, with the right answers.
    expect(compileSafeRegex('.*.*.*\\x01', 'name').test(CMDLINE)).toBe(false);
    expect(compileSafeRegex('.*.*.*\\x01', 'name').test(CMDLINE + '\x01')).toBe(true);
    expect(compileSafeRegex('Q*Q*Q*Q*Q*b', 'mapping').test(QS)).toBe(false);
    expect(compileSafeRegex('Q*Q*Q*Q*Q*b', 'mapping').test(QS + 'b')).toBe(true);
  });

  it('classic catastrophic shapes are linear and right', () => {
    const as = 'a'.repeat(50_000);
    const cases: [string, string, boolean][] = [
      ['(a+)+$', as + '!', false],
      ['(a+)+$', as, true],
      ['^(a|aa)*b', as, false],
      ['^(a|a)*$', as, true],
      ['(a*)*b', as, false],
      ['^(\\w+\\s?)*$', as + '!', false],
      ['(.*a){20}', as, true],
      ['(.*a){20}', 'xa'.repeat(19), false],
      ['(x+x+)+y', CMDLINE, false],
    ];
    for (const [src, input, want] of cases) {
      expect({ src, got: compileSafeRegex(src, 'name').test(input) }).toEqual({ src, got: want });
    }
  });

  it('accepts RE2 syntax: inline flags, classes, named groups, counted repetitions', () => {
    const ok: [string, string, boolean][] = [
      ['(?i)^JAVA$', 'java', true],
      ['^JAVA$', 'java', false],
      ['(?i:py)thon', 'PYthon', true],
      ['(?i:py)thon', 'PYTHON', false],
      ['(?s)a.b', 'a\nb', true],
      ['a.b', 'a\nb', false],
      ['(?m)^b$', 'a\nb\nc', true],
      ['^b$', 'a\nb\nc', false],
      ['(?U)a+b', 'aab', true],
      ['\\x{41}\\x42', 'AB', true],
      ['\\pL+\\d', 'é1', true],
      ['\\p{Greek}', 'λ', true],
      ['[[:digit:]]{3}', 'a123', true],
      ['(?P<n>ab)c', 'abc', true],
      ['(?<n>ab)c', 'abc', true],
      ['\\bword\\b', 'a word here', true],
      ['\\bword\\b', 'swordfish', false],
      ['[0-9a-f]{64}', 'f'.repeat(64), true],
      ['^/usr/(s?bin)/[a-z]+ --x=\\S+$', '/usr/sbin/nginx --x=/etc/a', true],
      ['libssl.*\\(deleted\\)', '/usr/lib/libssl.so.3 (deleted)', true],
      ['\\Qa.b\\E', 'axb', false],
    ];
    for (const [src, input, want] of ok) {
      const re = compileSafeRegex(src, 'name');
      expect(re.source).toBe(src);
      expect({ src, input, got: re.test(input) }).toEqual({ src, input, got: want });
    }
  });

  it('refuses what RE2 cannot run, each naming the field, with the reason', () => {
    const refused: [string, RegExp][] = [
      ['(?=x)a', /lookaround/],
      ['(?!x)a', /lookaround/],
      ['(?<=/)java$', /lookaround/],
      ['(?<!/)java$', /lookaround/],
      ['^(\\w)\\1', /backreferences/],
      ['(?<q>a)\\k<q>', /backreferences/],
      ['\\u0041', /\\u escapes/],
      ['(', /not a valid RE2 regular expression/],
      ['[a-', /not a valid RE2 regular expression/],
      ['a**', /not a valid RE2 regular expression/],
      ['x{1001}', /not a valid RE2 regular expression/],
      ['(?:a{100}){100}', /not a valid RE2 regular expression|too complex/],
    ];
    for (const [src, why] of refused) {
      for (const field of ['name', 'mapping', 'name_regex']) {
        const e = refusal(src, field);
        expect({ src, code: e.code, field: e.field }).toEqual({
          src,
          code: 'INVALID_ARGUMENT',
          field,
        });
        expect(e.message.startsWith(`${field}: `)).toBe(true);
        expect({ src, message: e.message }).toEqual({ src, message: expect.stringMatching(why) });
      }
    }
    // Inside a class these are plain characters, and the pattern is fine.
    expect(compileSafeRegex('[(?=]\\d', 'name').test('=1')).toBe(true);
  });

  it('caps the pattern length and the compiled program size', () => {
    // 1024 characters that compile to a few instructions (one class).
    const wide = `[${'a'.repeat(MAX_SAFE_REGEX_LENGTH - 2)}]`;
    expect(compileSafeRegex(wide, 'name').source).toHaveLength(1024);
    // A literal costs an instruction per character.
    expect(compileSafeRegex('a'.repeat(MAX_SAFE_REGEX_PROGRAM - 10), 'name').test('a')).toBe(false);
    expect(refusal('a'.repeat(MAX_SAFE_REGEX_PROGRAM), 'name').message).toMatch(/too complex/);
    const long = refusal('a'.repeat(MAX_SAFE_REGEX_LENGTH + 1), 'name');
    expect(long.message).toBe(`name: at most 1024 characters, got 1025`);
    // Small enough: a 64-hex-digit container id.
    expect(compileSafeRegex('[0-9a-f]{64}', 'name').test('x' + '0'.repeat(64))).toBe(true);
    // Linear but a huge program: O(input x program) would be seconds per command line.
    for (const src of ['((((.*a){10}){10}){10})c', '(.{1000})c', '(?:(.*a){30}){30}']) {
      const e = refusal(src, 'name');
      expect({ src, message: e.message }).toEqual({
        src,
        message: expect.stringMatching(
          new RegExp(`^name: pattern too complex: .* at most ${MAX_SAFE_REGEX_PROGRAM}`),
        ),
      });
    }
  });

  it(`searches the first ${MAX_MATCHED_CHARS} characters of an input, as if it ended there`, () => {
    const re = compileSafeRegex('needle$', 'name');
    const pad = 'x'.repeat(MAX_MATCHED_CHARS - 'needle'.length);
    expect(re.test(pad + 'needle')).toBe(true);
    expect(re.test(pad + 'needle' + 'x'.repeat(2_000_000))).toBe(true);
    expect(re.test('x' + pad + 'needle')).toBe(false);
    expect(compileSafeRegex('needle', 'name').test(pad + 'x'.repeat(10) + 'needle')).toBe(false);
  });

  it('agrees with JS RegExp on a syntax both share (property)', () => {
    // Atoms, groups, quantifiers, alternation and anchors that mean the same in ECMAScript and
    // RE2 over this alphabet (no \r, no Unicode spaces: their `.` and `\s` differ there).
    const atom = fc.constantFrom(
      'a',
      'b',
      'c',
      '1',
      '.',
      '[ab]',
      '[^a]',
      '[a-c]',
      '\\d',
      '\\w',
      '\\W',
      '\\s',
      '\\.',
      '-',
    );
    const quant = fc.constantFrom('', '', '*', '+', '?', '{2}', '{0,2}', '{1,3}', '*?', '+?');
    const { re } = fc.letrec<{ re: string; term: string; piece: string }>((tie) => ({
      piece: fc.oneof(
        { depthSize: 'small', maxDepth: 3, withCrossShrink: true },
        fc.tuple(atom, quant).map(([a, q]) => a + q),
        fc.tuple(tie('re'), fc.constantFrom('(', '(?:'), quant).map(([r, g, q]) => `${g}${r})${q}`),
        fc.constantFrom('^', '$', '\\b', '\\B'),
      ),
      term: fc.array(tie('piece'), { minLength: 0, maxLength: 4 }).map((ps) => ps.join('')),
      re: fc.array(tie('term'), { minLength: 1, maxLength: 3 }).map((ts) => ts.join('|')),
    }));
    const input = fc
      .array(fc.constantFrom('a', 'b', 'c', '1', ' ', '\n', '.', '-'), { maxLength: 14 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(re, fc.array(input, { minLength: 1, maxLength: 5 }), (src, inputs) => {
        let safe;
        try {
          safe = compileSafeRegex(src, 'name');
        } catch (e) {
          // nested counted repetitions can exceed the program cap: not this property's subject
          if (isPmapError(e) && e.message.startsWith('name: pattern too complex')) return true;
          throw e;
        }
        for (const s of inputs) {
          // The oracle is ECMAScript's backtracking engine: on a generated pattern with nested
          // quantifiers it can itself take exponential time (the very thing RE2 is here for), so
          // it runs under a time limit and a case it cannot answer in time is not compared.
          const expected = jsTest(src, s);
          if (expected === undefined) continue;
          if (safe.test(s) !== expected) return false;
        }
        return true;
      }),
      { numRuns: 1000 },
    );
  });
});
