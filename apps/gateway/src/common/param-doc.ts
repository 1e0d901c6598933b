import 'reflect-metadata';
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';

const PARAMS_KEY = 'pmapd:params';

export interface ParamDoc {
  name: string;
  allowed?: string[] | string;
}

/**
 * Documents one request parameter (query or path) in OpenAPI and records what it accepts, so a
 * validation failure can name the parameter and its allowed values.
 */
export function Param(
  opts: ApiPropertyOptions & { description: string; allowed?: string[] | string },
): PropertyDecorator {
  const { allowed, ...api } = opts;
  const record: PropertyDecorator = (target, key) => {
    const list = (Reflect.getMetadata(PARAMS_KEY, target) as ParamDoc[] | undefined) ?? [];
    const name = String(key);
    const enumValues = Array.isArray(api.enum) ? api.enum.map(String) : undefined;
    Reflect.defineMetadata(
      PARAMS_KEY,
      [...list.filter((p) => p.name !== name), { name, allowed: allowed ?? enumValues }],
      target,
    );
  };
  return applyDecorators(ApiProperty(api), record);
}

export function paramDocs(target: object | undefined): ParamDoc[] {
  if (!target) return [];
  return (Reflect.getMetadata(PARAMS_KEY, target) as ParamDoc[] | undefined) ?? [];
}
