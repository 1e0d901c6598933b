/**
 * Query parameter field decorators: each kind of field (boolean flag, bounded integer, address
 * range, regular expression, ...) has its validation, transformation and OpenAPI documentation
 * in one place; DTOs pick the kind and give the per-endpoint description.
 */
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  Validate,
  ValidatorConstraint,
  type ValidationArguments,
  type ValidatorConstraintInterface,
} from 'class-validator';
import { compileSafeRegex, isPmapError, MAX_SAFE_REGEX_LENGTH } from '@app/domain';
import { Param } from '../param-doc';
import { ToBool, ToInt } from '../transforms';

export const BOOL_VALUES = ['true', 'false', '1', '0'];
export const RANGE_ALLOWED =
  'LOW[,HIGH] in hexadecimal (0x optional, at most 64 bits), LOW <= HIGH';
export const REGEX_ALLOWED = `an RE2 regular expression of at most ${MAX_SAFE_REGEX_LENGTH} characters (no lookaround, no backreferences; flags inline, e.g. (?i))`;

/** What a parameter's documentation may say besides its description. */
export interface ParamText {
  description: string;
  example?: string;
  allowed?: string;
}

/**
 * One property decorator made of several, applied bottom-up like decorators written above a
 * property; `make` gets the property name (for messages).
 */
function field(make: (name: string) => PropertyDecorator[]): PropertyDecorator {
  return (target, key) => {
    for (const d of make(String(key)).reverse()) d(target, key);
  };
}

/** An optional text parameter's documentation (example/allowed only when given). */
function optionalDoc(text: ParamText): PropertyDecorator {
  const { description, example, allowed } = text;
  return Param({
    required: false,
    description,
    ...(example !== undefined ? { example } : {}),
    ...(allowed !== undefined ? { allowed } : {}),
  });
}

/** Why `value` is not a pattern compileSafeRegex accepts for `field`, or undefined when it is. */
function regexRefusal(value: unknown, field: string): string | undefined {
  if (typeof value !== 'string') return `${field} must be a string`;
  try {
    compileSafeRegex(value, field);
    return undefined;
  } catch (e) {
    if (isPmapError(e)) return e.message;
    throw e;
  }
}

/** The client pattern check: the same compiler (RE2, caps) as where the pattern is matched. */
@ValidatorConstraint({ name: 'isRegex' })
export class IsRegexConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args?: ValidationArguments): boolean {
    return regexRefusal(value, args?.property ?? 'value') === undefined;
  }
  defaultMessage(args?: ValidationArguments): string {
    const field = args?.property ?? 'value';
    return regexRefusal(args?.value, field) ?? `${field} must be a valid RE2 regular expression`;
  }
}

/** true/false/1/0 (or a bare flag). */
export const BoolParam = (description: string): PropertyDecorator =>
  field((name) => [
    Param({ required: false, description, type: Boolean, allowed: BOOL_VALUES }),
    IsOptional(),
    ToBool(),
    IsBoolean({ message: `${name} must be true or false` }),
  ]);

/** An optional string of at most `maxLength` characters. */
export const TextParam = (text: ParamText, maxLength: number): PropertyDecorator =>
  field(() => [optionalDoc(text), IsOptional(), IsString(), MaxLength(maxLength)]);

/** An optional string matching `pattern` (`message` when it does not). */
export const PatternParam = (
  text: ParamText,
  pattern: RegExp,
  message: string,
): PropertyDecorator =>
  field(() => [optionalDoc(text), IsOptional(), IsString(), Matches(pattern, { message })]);

/** An address range LOW[,HIGH] in hex (parsed later by parseAddressRange). */
export const RangeParam = (description: string, example?: string): PropertyDecorator =>
  TextParam({ description, example, allowed: RANGE_ALLOWED }, 64);

/** A client regular expression: RE2 syntax, compileSafeRegex's caps (checked by it). */
export const RegexParam = (description: string, example: string): PropertyDecorator =>
  field(() => [
    optionalDoc({ description, example, allowed: REGEX_ALLOWED }),
    IsOptional(),
    IsString(),
    Validate(IsRegexConstraint),
  ]);

/** One of `values`; `required` makes it mandatory (the message then says so). */
export const EnumParam = (
  description: string,
  values: readonly string[],
  opts: { required?: boolean; message?: string } = {},
): PropertyDecorator =>
  field((name) => {
    const message =
      opts.message ??
      `${name} must be one of ${values.join(', ')}${opts.required ? ' (required)' : ''}`;
    const check = IsIn([...values], { message });
    return opts.required
      ? [Param({ required: true, description, enum: [...values] }), check]
      : [Param({ required: false, description, enum: [...values] }), IsOptional(), check];
  });

/**
 * An integer min-max. Messages: 'bounds' says "must be an integer" / "at least" / "at most";
 * 'range' says "must be an integer MIN-MAX" for each; 'ms' is a number of milliseconds.
 */
export const IntParam = (
  description: string,
  min: number,
  max: number,
  style: 'bounds' | 'range' | 'ms' = 'bounds',
): PropertyDecorator =>
  field((name) => {
    const msgs =
      style === 'range'
        ? Array<string>(3).fill(`${name} must be an integer ${min}-${max}`)
        : style === 'ms'
          ? [
              `${name} must be an integer number of milliseconds`,
              `${name} must be at least ${min} ms`,
              `${name} must be at most ${max} ms`,
            ]
          : [
              `${name} must be an integer`,
              `${name} must be at least ${min}`,
              `${name} must be at most ${max}`,
            ];
    const allowed =
      style === 'ms'
        ? `an integer number of milliseconds, ${min}-${max}`
        : `an integer ${min}-${max}`;
    return [
      Param({ required: false, description, type: Number, minimum: min, maximum: max, allowed }),
      IsOptional(),
      ToInt(),
      IsInt({ message: msgs[0] }),
      Min(min, { message: msgs[1] }),
      Max(max, { message: msgs[2] }),
    ];
  });

// ------------------------------------------------------------------------------------------------
// Process filters (the agent's ListProcesses selectors), shared by /processes and the fleet.

export const NameFilterParam = (example: string): PropertyDecorator =>
  RegexParam(
    'Regular expression (RE2 syntax, linear-time: no lookaround or backreferences) matched against the command name and the first 65,536 characters of the command line',
    example,
  );

export const UserFilterParam = (description = 'User name or numeric uid'): PropertyDecorator =>
  TextParam({ description, example: 'root' }, 256);

export const CgroupFilterParam = (): PropertyDecorator =>
  TextParam(
    { description: "Substring of the process's cgroup (v2) path", example: 'system.slice' },
    4096,
  );

export const VeParam = (): PropertyDecorator =>
  field(() => [
    Param({
      required: false,
      description:
        "NEC Vector Engine node number: query that VE node's processes instead of the host's (Linux) ones.",
      type: Number,
      minimum: 0,
      maximum: 4294967295,
      allowed: "a VE node number (0, 1, ...) as listed in the node's veNodes",
    }),
    IsOptional(),
    ToInt(),
    IsInt({ message: 've must be a VE node number' }),
    Min(0, { message: 've must be a VE node number (0 or more)' }),
    Max(4294967295, { message: 've must be a VE node number' }),
  ]);
