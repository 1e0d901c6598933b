import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { badParameter } from './api-error';
import { paramDocs } from './param-doc';

function first(errors: ValidationError[]): ValidationError | undefined {
  for (const e of errors) {
    if (e.constraints && Object.keys(e.constraints).length > 0) return e;
    const child = first(e.children ?? []);
    if (child) return child;
  }
  return undefined;
}

/** The type/shape check explains a bad value best; bounds come after it. */
const PRIORITY = ['whitelistValidation', 'isString', 'isInt', 'isBoolean', 'isIn', 'matches'];

function mainMessage(constraints: Record<string, string>): string {
  for (const k of PRIORITY) if (constraints[k]) return constraints[k];
  return Object.values(constraints)[0] ?? 'invalid value';
}

/**
 * Query/path DTO validation: transform + whitelist; an unknown parameter is an error too. The
 * first failure becomes a 400 naming the parameter and what it accepts.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    validationError: { target: true, value: true },
    exceptionFactory: (errors: ValidationError[]) => {
      const e = first(errors);
      if (!e) return badParameter('request', 'invalid request');
      const target = e.target as object | undefined;
      const docs = paramDocs(target ? (Object.getPrototypeOf(target) as object) : undefined);
      const constraints = e.constraints ?? {};
      if (constraints.whitelistValidation) {
        return badParameter(
          e.property,
          `unknown parameter '${e.property}'`,
          docs.map((d) => d.name),
        );
      }
      const doc = docs.find((d) => d.name === e.property);
      const message = mainMessage(constraints);
      const shown = typeof e.value === 'string' ? ` (got '${e.value}')` : '';
      return badParameter(e.property, `${message}${shown}`, doc?.allowed);
    },
  });
}
