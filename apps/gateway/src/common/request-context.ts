import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * An AbortSignal that fires when the HTTP client goes away before the answer is sent, so calls to
 * agents are cancelled with it.
 */
export const ClientGone = createParamDecorator((_: unknown, ctx: ExecutionContext): AbortSignal => {
  const reply = ctx.switchToHttp().getResponse<FastifyReply>();
  const ac = new AbortController();
  const raw = reply.raw;
  raw.once('close', () => {
    if (!raw.writableFinished) ac.abort();
  });
  return ac.signal;
});

export type ResponseFormat = 'json' | 'text';

/** JSON unless `format=text` or the Accept header prefers text/plain over application/json. */
export function wantsText(format: ResponseFormat | undefined, accept: string | undefined): boolean {
  if (format) return format === 'text';
  if (!accept) return false;
  let text = -1;
  let json = -1;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    let q = 1;
    for (const p of params) {
      const [k, v] = p.trim().split('=');
      if (k === 'q' && v !== undefined) q = Number(v) || 0;
    }
    if (type === 'text/plain' || type === 'text/*') text = Math.max(text, q);
    if (type === 'application/json' || type === 'application/*') json = Math.max(json, q);
  }
  return text > 0 && text > json;
}

/**
 * The answer of an endpoint that speaks JSON and text: `text()` with a text/plain content type when
 * format=/Accept ask for text (wantsText), else `json()`.
 */
export function jsonOrText<J>(
  format: ResponseFormat | undefined,
  accept: string | undefined,
  reply: FastifyReply,
  text: () => string,
  json: () => J,
): J | string {
  if (!wantsText(format, accept)) return json();
  void reply.type('text/plain; charset=utf-8');
  return text();
}

export const Accept = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): string | undefined =>
    ctx.switchToHttp().getRequest<FastifyRequest>().headers.accept,
);
