import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

/** The OpenAPI document, generated from the controllers and DTOs. */
export function buildOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('pmapd gateway')
    .setDescription(
      'pmap for a whole cluster. JSON by default (addresses "0x…" strings, sizes in bytes: numbers below 2^53, decimal strings above); text/plain (format=text or Accept: text/plain) byte-identical to pmap on the node. Errors: {statusCode, error, message, parameter?, allowed?, node?}.',
    )
    .setVersion('1')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        description:
          'A token from the gateway configuration (auth.tokens, stored as SHA-256). Scopes: read (every node), read:node=GLOB, fleet (/v1/maps, /v1/audit, /v1/jobs), unredacted (command lines and mapping paths), metrics (/metrics when auth.protectMetrics). /healthz, /readyz, /docs and /openapi.json need no token. 401 without or with a bad token, 403 without the scope, 429 over the rate limit. Without any configured token (loopback only) every route is open.',
      },
      'bearer',
    )
    .addSecurityRequirements('bearer')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** GET /docs (Swagger UI) and GET /openapi.json. */
export function mountOpenApi(app: INestApplication, doc: OpenAPIObject): void {
  SwaggerModule.setup('docs', app, doc, {
    jsonDocumentUrl: 'openapi.json',
    raw: ['json'],
  });
}
