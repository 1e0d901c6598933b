/**
 * Response compression by `Accept-Encoding`: brotli or gzip (identity otherwise) for JSON,
 * text/plain and NDJSON, streamed (never buffered whole). Bodies below COMPRESS_THRESHOLD bytes
 * stay as they are; SSE is never compressed (a proxy or browser would hold events back).
 *
 * - Answers sent through fastify (`reply.send`: JSON, pmap text, errors) are compressed by
 *   @fastify/compress, registered here before any route.
 * - Hijacked streams (NDJSON) open their body with openResponseStream(), which negotiates the same
 *   way and flushes what was written once per event-loop turn, so each line leaves promptly.
 * - Every answer says `Vary: Accept, Accept-Encoding` (its body depends on both).
 * Request bodies are never decompressed (the gateway takes none; no zip bombs).
 */
import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import {
  constants as zlibConstants,
  createBrotliCompress,
  createGzip,
  type BrotliCompress,
  type Gzip,
} from 'node:zlib';
import fastifyCompress from '@fastify/compress';
import { negotiate } from '@fastify/accept-negotiator';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

/** Bodies shorter than this (bytes) are sent uncompressed: the headers would cost more. */
export const COMPRESS_THRESHOLD = 1024;

/** Preference order when the client accepts several. */
const ENCODINGS = ['br', 'gzip', 'identity'] as const;
type Encoding = (typeof ENCODINGS)[number];

/** Brotli quality 4: most of the gain at a fraction of the default 11's CPU. */
const BROTLI_OPTIONS = { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } };

const COMPRESSIBLE = new Set(['application/json', 'text/plain', 'application/x-ndjson']);

/**
 * JSON, text/plain and NDJSON (any parameters). For other types @fastify/compress falls back to
 * mime-db's "compressible" (the /docs UI's HTML, CSS, scripts); text/event-stream is not in it.
 */
export function isCompressible(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const base = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return COMPRESSIBLE.has(base);
}

/** The encoding to answer with for an Accept-Encoding header ("*" and x-gzip count as gzip). */
export function negotiateEncoding(header: string | undefined): Encoding {
  if (header === undefined || header.length === 0 || header.length > 1024) return 'identity';
  const h = header.toLowerCase().replaceAll('x-gzip', 'gzip').replaceAll('*', 'gzip');
  return negotiate(h, [...ENCODINGS]) ?? 'identity';
}

const VARY = ['Accept', 'Accept-Encoding'];

/** `Vary` with Accept and Accept-Encoding added to what is there (case-insensitively, once). */
export function varyValue(existing: unknown): string {
  const parts: string[] = [];
  const seen = new Set<string>();
  const add = (p: string): void => {
    const t = p.trim();
    if (t.length === 0 || seen.has(t.toLowerCase())) return;
    seen.add(t.toLowerCase());
    parts.push(t);
  };
  const list = Array.isArray(existing) ? existing : existing === undefined ? [] : [existing];
  for (const v of list) for (const p of String(v).split(',')) add(p);
  for (const v of VARY) add(v);
  return parts.join(', ');
}

function varyOnSend(
  _req: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (err: null, payload: unknown) => void,
): void {
  void reply.header('vary', varyValue(reply.getHeader('vary')));
  done(null, payload);
}

/**
 * Registers compression on the gateway's fastify instance; call before the routes are registered
 * (Nest registers them at init).
 */
export async function registerCompression(fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyCompress, {
    global: true,
    globalDecompression: false,
    encodings: [...ENCODINGS],
    threshold: COMPRESS_THRESHOLD,
    customTypes: isCompressible,
    brotliOptions: BROTLI_OPTIONS,
  });
  // after the plugin's own onRoute hook: this onSend runs after its compression step, which adds
  // a lower-case "accept-encoding" of its own when it compresses
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const hooks = route.onSend;
    if (Array.isArray(hooks)) route.onSend = [...hooks, varyOnSend];
    else if (typeof hooks === 'function') route.onSend = [hooks, varyOnSend];
    else route.onSend = [varyOnSend];
  });
}

/** The body of a hijacked streaming answer (openResponseStream). */
export interface ResponseBody {
  /** Writes a chunk; false: wait for `stream`'s 'drain' before writing more. */
  write(chunk: string): boolean;
  /** Ends the body (and the response). */
  end(): void;
  /** The client went away (or the body ended in error). */
  readonly destroyed: boolean;
  /** The stream written to: the raw response, or the compressor piped into it. */
  readonly stream: Writable;
}

class RawBody implements ResponseBody {
  constructor(readonly stream: ServerResponse) {}
  write(chunk: string): boolean {
    return this.stream.write(chunk);
  }
  end(): void {
    if (!this.stream.destroyed) this.stream.end();
  }
  get destroyed(): boolean {
    return this.stream.destroyed;
  }
}

/** A compressor piped into the response, flushed once per event-loop turn after writes. */
class CompressedBody implements ResponseBody {
  private flushQueued = false;

  constructor(
    readonly stream: Gzip | BrotliCompress,
    private readonly raw: ServerResponse,
  ) {
    stream.pipe(raw);
    raw.once('close', () => {
      if (!stream.writableFinished) stream.destroy();
    });
    // a compressor destroyed because the client went away: nobody is left to tell
    stream.on('error', () => raw.destroy());
  }

  write(chunk: string): boolean {
    if (this.destroyed) return false;
    const ok = this.stream.write(chunk);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        if (!this.destroyed && !this.stream.writableEnded) this.stream.flush();
      });
    }
    return ok;
  }

  end(): void {
    if (!this.destroyed) this.stream.end();
  }

  get destroyed(): boolean {
    return this.stream.destroyed || this.raw.destroyed;
  }
}

/**
 * Starts a hijacked streaming answer: writes status 200 and the headers (with Content-Encoding
 * and Vary) and returns its body — compressed by the request's Accept-Encoding when the content
 * type is compressible, with each turn's writes flushed to the client at once.
 */
export function openResponseStream(
  req: FastifyRequest,
  raw: ServerResponse,
  headers: Record<string, string>,
): ResponseBody {
  const type = headers['content-type'] ?? '';
  const encoding = isCompressible(type)
    ? negotiateEncoding(req.headers['accept-encoding'])
    : 'identity';
  const out: Record<string, string> = { ...headers, vary: varyValue(undefined) };
  if (encoding === 'identity') {
    raw.writeHead(200, out);
    return new RawBody(raw);
  }
  raw.writeHead(200, { ...out, 'content-encoding': encoding });
  const z = encoding === 'br' ? createBrotliCompress(BROTLI_OPTIONS) : createGzip();
  return new CompressedBody(z, raw);
}
