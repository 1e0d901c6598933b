/**
 * ListProcesses `name_regex` is matched against every process's comm and command line on the
 * agent's one thread: it is compiled by @app/domain's compileSafeRegex (RE2, linear time; length
 * and program-size caps; at most the first MAX_MATCHED_CHARS of a command line searched); a
 * refusal is INVALID_ARGUMENT naming the field.
 */
import { compileSafeRegex, isPmapError, MAX_SAFE_REGEX_LENGTH, type SafeRegex } from '@app/domain';
import { invalidArgument } from './errors';

export const MAX_NAME_REGEX_LENGTH = MAX_SAFE_REGEX_LENGTH;

/** Compiles a name regex safely; throws INVALID_ARGUMENT `name_regex: ...`. */
export function compileNameRegex(src: string): SafeRegex {
  try {
    return compileSafeRegex(src, 'name_regex');
  } catch (e) {
    if (isPmapError(e)) throw invalidArgument('name_regex', e.message);
    throw e;
  }
}
