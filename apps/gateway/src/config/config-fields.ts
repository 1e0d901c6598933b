/**
 * Property decorators the configuration classes (gateway-config.ts, security-config.ts) share.
 * Each applies its parts bottom-up, exactly as if they were written stacked above the property.
 */
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min, MinLength, ValidateNested } from 'class-validator';

function stack(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => {
    for (let i = decorators.length - 1; i >= 0; i--) decorators[i](target, key);
  };
}

/** An integer min..max. */
export const IntBetween = (min: number, max: number): PropertyDecorator =>
  stack(IsInt(), Min(min), Max(max));

/** Absent, or an integer min..max. */
export const OptionalInt = (min: number, max: number): PropertyDecorator =>
  stack(IsOptional(), IntBetween(min, max));

/** A nested section of class `cls` (an array of them with `each`). */
export const Section = (cls: () => new () => object, each = false): PropertyDecorator =>
  stack(each ? ValidateNested({ each: true }) : ValidateNested(), Type(cls));

/** Absent, or a nested section of class `cls`. */
export const OptionalSection = (cls: () => new () => object, each = false): PropertyDecorator =>
  stack(IsOptional(), Section(cls, each));

/** A non-empty string (a file path, a name). */
export const NonEmptyString = (): PropertyDecorator => stack(IsString(), MinLength(1));
