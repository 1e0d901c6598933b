/**
 * The ONE place that compiles a regular expression a client sent (a process name regex, a
 * mapping name regex). Such a pattern is matched against long inputs (command lines of 50,000+
 * characters) on an app's one thread, so it runs on RE2 (`re2js`, a pure-JS port of RE2): an
 * automaton, never backtracking, so matching time is linear in the input whatever the pattern.
 *
 * RE2 syntax (https://github.com/google/re2/wiki/Syntax), which users of ECMAScript regexes
 * mostly know; the differences they may meet:
 * - no lookaround (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`) and no backreferences (`\1`, `\k<n>`):
 *   refused, they cannot run in linear time;
 * - flags are inline: `(?i)` case-insensitive, `(?s)` `.` matches `\n`, `(?m)` multi-line `^`/`$`,
 *   `(?U)` ungreedy; also scoped: `(?i:abc)`;
 * - `\x{10FFFF}` instead of `\u….`; no `\cX`; `\pL`, `\p{Greek}` and `[[:alpha:]]` classes work;
 * - counted repetitions at most {1000}.
 *
 * Bounds, each a refusal (PmapError INVALID_ARGUMENT naming the field) or documented behaviour:
 * - at most MAX_SAFE_REGEX_LENGTH characters of pattern;
 * - at most MAX_SAFE_REGEX_PROGRAM instructions once compiled: RE2's linear time is
 *   O(input × program) in the worst case (its NFA, when the DFA's cache overflows), so a huge
 *   program such as `((.*a){10}){10}` is refused rather than run for a second per command line;
 * - a match reads at most the first MAX_MATCHED_CHARS characters of its input (a command line
 *   can be 2 MB): the work of one test() is bounded whatever the process.
 *
 * Library code: no process-wide side effects; callers depend only on {@link SafeRegex}.
 */
import { RE2JS } from 're2js';
import { PmapError } from './errors';

/** Longest pattern accepted, in characters. */
export const MAX_SAFE_REGEX_LENGTH = 1024;

/** Largest compiled program accepted (RE2 instructions; `foo|bar` is about 10). */
export const MAX_SAFE_REGEX_PROGRAM = 400;

/** A match reads at most this many characters of its input (the rest is not searched). */
export const MAX_MATCHED_CHARS = 65_536;

/** A compiled client pattern: unanchored search, like RegExp.prototype.test without flags. */
export interface SafeRegex {
  /** The pattern as the client sent it. */
  readonly source: string;
  /** True when the pattern matches somewhere in the first MAX_MATCHED_CHARS of `text`. */
  test(text: string): boolean;
}

/** What an RE2-refused pattern most likely used, for the message (a linear scan). */
function unsupportedConstruct(src: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1] ?? '';
      if (!inClass && n >= '1' && n <= '9') return 'backreferences are not supported';
      if (!inClass && n === 'k' && src[i + 2] === '<') return 'backreferences are not supported';
      if (n === 'u') return '\\u escapes are not supported, write \\x{…}';
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
      if (src[i + 1] === ']') i++;
    } else if (c === '(' && src[i + 1] === '?') {
      const s = src.slice(i + 2, i + 4);
      if (s[0] === '=' || s[0] === '!' || s === '<=' || s === '<!') {
        return 'lookaround assertions are not supported';
      }
    }
  }
  return undefined;
}

function refuse(field: string, why: string): PmapError {
  return new PmapError('INVALID_ARGUMENT', `${field}: ${why}`, field);
}

class Re2Matcher implements SafeRegex {
  constructor(
    readonly source: string,
    private readonly re: RE2JS,
  ) {}

  test(text: string): boolean {
    // slice() of a long string is a view in V8, not a copy
    return this.re.test(text.length > MAX_MATCHED_CHARS ? text.slice(0, MAX_MATCHED_CHARS) : text);
  }
}

/**
 * Compiles a client's pattern for RE2 (see above). Refusals are PmapError INVALID_ARGUMENT with
 * `field` set and a message starting `<field>: `.
 */
export function compileSafeRegex(src: string, field: string): SafeRegex {
  if (src.length > MAX_SAFE_REGEX_LENGTH) {
    throw refuse(field, `at most ${MAX_SAFE_REGEX_LENGTH} characters, got ${src.length}`);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(src);
  } catch (e) {
    const engine = e instanceof Error ? e.message : String(e);
    const why = unsupportedConstruct(src);
    throw refuse(
      field,
      `not a valid RE2 regular expression${why !== undefined ? ` (${why})` : ''}: ${engine}`,
    );
  }
  const size = re.programSize();
  if (size > MAX_SAFE_REGEX_PROGRAM) {
    throw refuse(
      field,
      `pattern too complex: it compiles to ${size} RE2 instructions, at most ${MAX_SAFE_REGEX_PROGRAM} (use fewer or smaller counted repetitions)`,
    );
  }
  return new Re2Matcher(src, re);
}
