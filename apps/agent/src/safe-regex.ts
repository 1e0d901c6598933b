/**
 * ListProcesses `name_regex` is matched against every process's comm and command line (up to
 * hundreds of KB) on the agent's one thread: a catastrophically backtracking pattern such as
 * `(a+)+$` would block the agent for minutes. So a name regex is:
 *
 * - at most MAX_NAME_REGEX_LENGTH characters;
 * - compiled for V8's linear-time engine (the `l` flag; enabled below with
 *   --enable-experimental-regexp-engine) whenever the pattern allows it — matching is then linear
 *   in the input whatever the pattern;
 * - otherwise (backreferences, lookaround, \p{…}, large counted repetitions the linear engine
 *   refuses) accepted only when no quantified group contains a quantifier or a backreference
 *   (the shapes that backtrack exponentially); else INVALID_ARGUMENT naming the field.
 */
import { setFlagsFromString } from 'node:v8';
import { invalidArgument } from './errors';

export const MAX_NAME_REGEX_LENGTH = 1024;

/** V8's linear-time engine flag (not known to ESLint's regex checks, hence a variable). */
const LINEAR: string = 'l';

let linearAvailable = false;
try {
  setFlagsFromString('--enable-experimental-regexp-engine');
  linearAvailable = new RegExp('a', LINEAR).flags.includes(LINEAR);
} catch {
  linearAvailable = false;
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

/** Compiles a name regex safely (see above); throws INVALID_ARGUMENT `name_regex: ...`. */
export function compileNameRegex(src: string): RegExp {
  if (src.length > MAX_NAME_REGEX_LENGTH) {
    throw invalidArgument(
      `name_regex: at most ${MAX_NAME_REGEX_LENGTH} characters, got ${src.length}`,
    );
  }
  let re: RegExp;
  try {
    re = new RegExp(src);
  } catch (e) {
    throw invalidArgument(`name_regex: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (linearAvailable) {
    try {
      return new RegExp(src, LINEAR);
    } catch {
      // not expressible in linear time: the syntactic check decides
    }
  }
  if (hasNestedQuantifier(src)) {
    throw invalidArgument(
      'name_regex: nested quantifiers (a quantified group containing a quantifier or backreference) could backtrack catastrophically and this pattern cannot run in linear time; simplify it',
    );
  }
  return re;
}

export function linearRegexAvailable(): boolean {
  return linearAvailable;
}
