/**
 * ListProcesses `name_regex` is matched against every process's comm and command line (up to
 * hundreds of KB) on the agent's one thread: it is compiled with @app/domain's compileSafeRegex
 * (length cap, V8's linear-time engine where the pattern allows it, else no nested quantifiers);
 * a refusal is INVALID_ARGUMENT naming the field.
 */
import { compileSafeRegex, isPmapError, MAX_SAFE_REGEX_LENGTH } from '@app/domain';
import { invalidArgument } from './errors';

export { hasNestedQuantifier, linearRegexAvailable } from '@app/domain';

export const MAX_NAME_REGEX_LENGTH = MAX_SAFE_REGEX_LENGTH;

/** Compiles a name regex safely; throws INVALID_ARGUMENT `name_regex: ...`. */
export function compileNameRegex(src: string): RegExp {
  try {
    return compileSafeRegex(src, 'name_regex');
  } catch (e) {
    if (isPmapError(e)) throw invalidArgument('name_regex', e.message);
    throw e;
  }
}
