import { status } from '@grpc/grpc-js';
import {
  compileNameRegex,
  hasNestedQuantifier,
  linearRegexAvailable,
  MAX_NAME_REGEX_LENGTH,
} from './safe-regex';
import { GrpcStatusError } from './errors';

function rejection(src: string): GrpcStatusError {
  try {
    compileNameRegex(src);
  } catch (e) {
    return e as GrpcStatusError;
  }
  throw new Error(`expected ${src} to be refused`);
}

describe('name_regex compilation', () => {
  it('uses the linear-time engine on this Node', () => {
    expect(linearRegexAvailable()).toBe(true);
    expect(compileNameRegex('^zoo$').flags).toContain('l');
  });

  it('catastrophic patterns run on the linear-time engine, with the right answers', () => {
    const hostile = 'a'.repeat(100_000) + '!';
    const cases: [string, boolean][] = [
      ['(a+)+$', false],
      ['(a|a)*$', true],
      ['(a*)*b', false],
      ['^(\\w+\\s?)*$', false],
      ['(.*a){12}', true],
    ];
    for (const [src, matches] of cases) {
      const re = compileNameRegex(src);
      // The `l` flag first: on the backtracking engine this input would take minutes, and jest
      // cannot interrupt a synchronous match.
      expect({ src, flags: re.flags }).toEqual({ src, flags: expect.stringContaining('l') });
      expect({ src, matches: re.test(hostile) }).toEqual({ src, matches });
    }
  });

  it('patterns the linear engine refuses are kept unless they nest quantifiers', () => {
    expect(compileNameRegex('(?<=/)java$').test('/usr/bin/java')).toBe(true);
    expect(compileNameRegex('^(\\w)\\1').test('zzz')).toBe(true);
    expect(compileNameRegex('x{1000}').flags).not.toContain('l');
    const e = rejection('((a)\\2)*(?=x)');
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.message).toMatch(/^name_regex: nested quantifiers/);
    expect(rejection('(?:a{100}){100}').code).toBe(status.INVALID_ARGUMENT);
  });

  it('length and syntax errors are INVALID_ARGUMENT naming the field', () => {
    expect(rejection('a'.repeat(MAX_NAME_REGEX_LENGTH + 1)).message).toMatch(
      /^name_regex: at most 1024 characters/,
    );
    expect(compileNameRegex('a'.repeat(MAX_NAME_REGEX_LENGTH)).source.length).toBe(1024);
    expect(rejection('(').message).toMatch(/^name_regex: Invalid regular expression/);
  });

  it('hasNestedQuantifier', () => {
    expect(hasNestedQuantifier('(a+)+')).toBe(true);
    expect(hasNestedQuantifier('(a|b)*')).toBe(true);
    expect(hasNestedQuantifier('((ab)+c)+')).toBe(true);
    expect(hasNestedQuantifier('(\\w+\\s?){2,}')).toBe(true);
    expect(hasNestedQuantifier('(a)\\1+')).toBe(false);
    expect(hasNestedQuantifier('^java(c)?$')).toBe(false);
    expect(hasNestedQuantifier('[(+]+')).toBe(false);
    expect(hasNestedQuantifier('(a+)?')).toBe(false);
    expect(hasNestedQuantifier('a{2}b{3,}')).toBe(false);
  });
});
