/**
 * Shared e2e gRPC helpers: promisified unary calls, collecting a server stream, health and
 * reflection clients.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join, dirname } from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { GetMemoryMapRequest } from '@app/proto';

/** Deadline `ms` from now, for CallOptions. */
export function deadlineIn(ms: number): Date {
  return new Date(Date.now() + ms);
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls a unary method of a generated client, promisified:
 *   const res = await unary(client, client.getNodeInfo, {});
 * Rejects with the ServiceError.
 */
export function unary<Req, Res>(
  client: grpc.Client,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: Partial<grpc.CallOptions> = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new grpc.Metadata(), options, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Collects every message of a server stream; rejects with the ServiceError on a non-OK status. */
export function collect<T>(stream: ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

/**
 * Like collect, but also returns the error instead of rejecting: { messages, error }.
 */
export function collectSettled<T>(
  stream: ClientReadableStream<T>,
): Promise<{ messages: T[]; error: ServiceError | undefined }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', (error: ServiceError) => resolve({ messages, error }));
    stream.on('end', () => resolve({ messages, error: undefined }));
  });
}

/** Awaits a promise that must reject with a gRPC ServiceError; returns it. */
export async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error('expected the call to fail');
}

const healthPkg = grpc.loadPackageDefinition(
  protoLoader.loadSync('health/v1/health.proto', {
    includeDirs: [dirname(dirname(dirname(healthProtoPath)))],
    enums: String,
  }),
) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };

/** grpc.health.v1.Health/Check: resolves with "SERVING", "NOT_SERVING", ... */
export function healthCheck(address: string, service = '', deadlineMs = 30000): Promise<string> {
  const client = new healthPkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as unknown as { check: UnaryMethod<{ service: string }, { status: string }> }).check(
      { service },
      new grpc.Metadata(),
      { deadline: deadlineIn(deadlineMs) },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  });
}

const REFLECTION_PROTO_DIR = join(
  dirname(require.resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
);

/** Server reflection (grpc.reflection.v1): the names of the services the server lists. */
export function listServicesByReflection(address: string): Promise<string[]> {
  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync('grpc/reflection/v1/reflection.proto', {
      includeDirs: [REFLECTION_PROTO_DIR],
    }),
  ) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(
    address,
    grpc.credentials.createInsecure(),
  );
  return new Promise((resolve, reject) => {
    const call = (
      client as unknown as { serverReflectionInfo(): grpc.ClientDuplexStream<unknown, unknown> }
    ).serverReflectionInfo();
    call.on(
      'data',
      (res: {
        listServicesResponse?: { service: { name: string }[] };
        errorResponse?: unknown;
      }) => {
        call.end();
        client.close();
        if (res.listServicesResponse) resolve(res.listServicesResponse.service.map((s) => s.name));
        else reject(new Error(`reflection error: ${JSON.stringify(res.errorResponse)}`));
      },
    );
    call.on('error', (e: Error) => {
      client.close();
      reject(e);
    });
    call.write({ listServices: '' });
  });
}

/** A complete GetMemoryMapRequest: the proto defaults overridden by `req`. */
export function memoryMapRequest(req: Partial<GetMemoryMapRequest>): GetMemoryMapRequest {
  return { ...GetMemoryMapRequest.fromPartial({}), ...req };
}
