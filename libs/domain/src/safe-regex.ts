/**
 * Regular expressions from clients (a process name regex, a mapping name regex) are matched
 * against long inputs on a single thread: a catastrophically backtracking pattern such as
 * `(a+)+$` would block the process for minutes. So such a regex is:
 *
 * - at most MAX_SAFE_REGEX_LENGTH characters;
 * - compiled for V8's linear-time engine (the `l` flag; enabled on first use with
 *   --enable-experimental-regexp-engine) whenever the pattern allows it — matching is then linear
 *   in the input whatever the pattern;
 * - otherwise (backreferences, lookaround, \p{…}, large counted repetitions the linear engine
 *   refuses) accepted only when no quantified group contains a quantifier or a backreference
 *   (the shapes that backtrack exponentially); else PmapError INVALID_ARGUMENT naming the field.
 */
import { setFlagsFromString } from 'node:v8';
import { PmapError } from './errors';

export const MAX_SAFE_REGEX_LENGTH = 1024;

/** V8's linear-time engine flag (not known to ESLint's regex checks, hence a variable). */
const LINEAR: string = 'l';

let linearAvailable: boolean | undefined;

/** True when V8's linear-time regexp engine can be used (enabled on the first call). */
export function linearRegexAvailable(): boolean {
  if (linearAvailable === undefined) {
    try {
      setFlagsFromString('--enable-experimental-regexp-engine');
      linearAvailable = new RegExp('a', LINEAR).flags.includes(LINEAR);
    } catch {
      linearAvailable = false;
    }
  }
  return linearAvailable;
}

/**
 * True when a group that is itself quantified contains a quantifier, an alternation or a
 * backreference, e.g. `(a+)+`, `(a|a)*`, `(\w+\s?){2,}`, `((a)\2)*` — a conservative syntactic
 * check (character classes and escapes are skipped).
 */
export function hasNestedQuantifier(src: string): boolean {
  // Per open group: does its body contain a quantifier/backreference?
  const stack: boolean[] = [];
  let lastGroupRisky = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1];
      if (n !== undefined && /[1-9k]/.test(n) && stack.length > 0) stack[stack.length - 1] = true;
      i++;
      lastGroupRisky = false;
      continue;
    }
    if (c === '[') {
      // skip the class
      for (i++; i < src.length && src[i] !== ']'; i++) if (src[i] === '\\') i++;
      lastGroupRisky = false;
      continue;
    }
    if (c === '(') {
      stack.push(false);
      lastGroupRisky = false;
      continue;
    }
    if (c === ')') {
      const risky = stack.pop() ?? false;
      lastGroupRisky = risky;
      // A risky group makes its parent risky too (it contains a quantifier).
      if (risky && stack.length > 0) stack[stack.length - 1] = true;
      continue;
    }
    if (c === '|') {
      // Alternatives inside a repeated group may overlap ((a|a)*): treated like a quantifier.
      if (stack.length > 0) stack[stack.length - 1] = true;
      lastGroupRisky = false;
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      const isQuant = c !== '{' || /^\{\d+(,\d*)?\}/.test(src.slice(i));
      if (isQuant) {
        if (lastGroupRisky && c !== '?') return true;
        if (stack.length > 0) stack[stack.length - 1] = true;
      }
      lastGroupRisky = false;
      continue;
    }
    lastGroupRisky = false;
  }
  return false;
}

/**
 * Compiles a client's regex safely (see above). Refusals are PmapError INVALID_ARGUMENT with
 * `field` set and a message starting `<field>: `.
 */
export function compileSafeRegex(src: string, field: string): RegExp {
  if (src.length > MAX_SAFE_REGEX_LENGTH) {
    throw new PmapError(
      'INVALID_ARGUMENT',
      `${field}: at most ${MAX_SAFE_REGEX_LENGTH} characters, got ${src.length}`,
      field,
    );
  }
  let re: RegExp;
  try {
    re = new RegExp(src);
  } catch (e) {
    throw new PmapError(
      'INVALID_ARGUMENT',
      `${field}: ${e instanceof Error ? e.message : String(e)}`,
      field,
    );
  }
  if (linearRegexAvailable()) {
    try {
      return new RegExp(src, LINEAR);
    } catch {
      // not expressible in linear time: the syntactic check decides
    }
  }
  if (hasNestedQuantifier(src)) {
    throw new PmapError(
      'INVALID_ARGUMENT',
      `${field}: nested quantifiers (a quantified group containing a quantifier or backreference) could backtrack catastrophically and this pattern cannot run in linear time; simplify it`,
      field,
    );
  }
  return re;
}
