import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { applyOpenApiConventions } from './openapi-conventions';

export const BEARER_AUTH = 'bearer';
/** Where the Swagger UI is served; its documents are at `/docs-json` and `/docs-yaml`. */
export const DOCS_PATH = 'docs';
/** Inbound webhooks prove themselves with an HMAC of the body instead of a bearer token. */
export const WEBHOOK_SIGNATURE = 'webhook_signature';
export const XLEDGER_SIGNATURE = 'xledger_signature';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Meander integrations service')
    .setDescription(
      'Per-organization configuration of external systems (Xledger, Microsoft Dynamics 365, the HLF member portal) ' +
        'and the export of expense claims into the records they expect. Every error is `application/problem+json` ' +
        '(RFC 9457) with `code` and, for validation, `errors[].rule` naming the data dictionary rule.',
    )
    .setVersion('1')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'A JWS (HS256 with the shared secret, or RS256/ES256 from AUTH_JWKS_URL) with `sub` (UUID), `role` (`org_admin`, `global_admin`, `sync_service`), ' +
          '`org_id` for org_admin, and `exp`; `iss`/`aud` when configured. Verified as RFC8725 (JWT best current practices) asks: the algorithm is pinned ' +
          '(`alg: none` and any other algorithm are refused), `exp` is required with at most 60 s of clock skew, and tokens are accepted in the Authorization header only.',
      },
      BEARER_AUTH,
    )
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: 'webhook-signature',
        description:
          "Standard Webhooks: `v1,<base64 HMAC-SHA256>` over `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed by the config's webhook secret (with `webhook-id` and `webhook-timestamp` headers).",
      },
      WEBHOOK_SIGNATURE,
    )
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: 'X-XL-Webhook-Signature',
        description: "Xledger: base64url HMAC-SHA256 over `<Unix seconds of the Date header>.<raw body>`, keyed by the config's API token.",
      },
      XLEDGER_SIGNATURE,
    )
    .build();
  return applyOpenApiConventions(SwaggerModule.createDocument(app, config));
}

/** Swagger UI at /docs with a working "Authorize" button, the OpenAPI 3 document at /docs-json. */
export function setupSwagger(app: INestApplication): OpenAPIObject {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    yamlDocumentUrl: `${DOCS_PATH}-yaml`,
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
    customSiteTitle: 'Meander integrations API',
  });
  return document;
}
