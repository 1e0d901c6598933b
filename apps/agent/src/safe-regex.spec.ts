import { status } from '@grpc/grpc-js';
import { compileNameRegex, MAX_NAME_REGEX_LENGTH } from './safe-regex';
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
  it('catastrophic patterns run on RE2, with the right answers', () => {
    const hostile = 'a'.repeat(50_000) + '!';
    const cases: [string, boolean][] = [
      ['(a+)+$', false],
      ['(a|a)*$', true],
      ['(a*)*b', false],
      ['^(\\w+\\s?)*$', false],
      ['(.*a){12}', true],
      ['.*.*.*\\x01', false],
    ];
    for (const [src, matches] of cases) {
      expect({ src, matches: compileNameRegex(src).test(hostile) }).toEqual({ src, matches });
    }
  });

  it('lookaround, backreferences, bad syntax and too long are INVALID_ARGUMENT naming the field', () => {
    const cases: [string, RegExp][] = [
      ['(?!y).*.*.*\\x01', /^name_regex: .*lookaround/],
      ['(?<=/)java$', /^name_regex: .*lookaround/],
      ['^(\\w)\\1', /^name_regex: .*backreferences/],
      ['(', /^name_regex: not a valid RE2 regular expression/],
      ['(?:(.*a){30}){30}', /^name_regex: pattern too complex/],
      ['a'.repeat(MAX_NAME_REGEX_LENGTH + 1), /^name_regex: at most 1024 characters/],
    ];
    for (const [src, message] of cases) {
      const e = rejection(src);
      expect(e).toBeInstanceOf(GrpcStatusError);
      expect({ src, code: e.code, message: e.message }).toEqual({
        src,
        code: status.INVALID_ARGUMENT,
        message: expect.stringMatching(message),
      });
    }
    const wide = `[${'a'.repeat(MAX_NAME_REGEX_LENGTH - 2)}]`;
    expect(compileNameRegex(wide).source.length).toBe(1024);
  });
});
