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
