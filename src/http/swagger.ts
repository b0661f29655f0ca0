import type { INestApplication } from '@nestjs/common';
import { ApiBody, DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { applyOpenApiConventions } from './openapi-conventions';
import { validationAnswer } from './openapi-problem-examples';
import { deriveSchemasFromValidators } from './openapi-validator-schemas';

export const BEARER_AUTH = 'bearer';
/** Where the Swagger UI is served; its documents are at `/docs-json` and `/docs-yaml`. */
export const DOCS_PATH = 'docs';
/** Inbound webhooks prove themselves with an HMAC of the body: documented as headers of their operation. */
export { WEBHOOK_SIGNATURE, XLEDGER_SIGNATURE } from './openapi-conventions';
/** GET /metrics: the scraper's own bearer secret (METRICS_TOKEN), not a user JWT. */
export const METRICS_AUTH = 'metrics_token';

/** The body of an action that takes no input (its DTO has no field): none, or `{}`; any field is 400 unknown_field. */
export const ApiNoFieldsBody = () =>
  ApiBody({ required: false, description: 'No fields: send no body or `{}`.', schema: { type: 'object', additionalProperties: false, maxProperties: 0, example: {} } });

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Meander integrations service')
    .setDescription(
      'Per-organization configuration of external systems (Xledger, Microsoft Dynamics 365, the HLF member portal) ' +
        'and the export of expense claims into the records they expect. Every error is `application/problem+json` ' +
        '(RFC 9457) with `code` and, for validation, `errors[].rule` naming the data dictionary rule; the examples are answers of the service.\n\n' +
        '**Rate limits.** Every response but the health probes carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` for the budget ' +
        'the request was counted against: writes or reads per token, inbound webhooks and unauthenticated requests per client address. ' +
        'They are absent when a request was refused before it was counted (401, 403, and 413 or 415 for a body that was not read). Over the budget: 429 with `Retry-After`; a 429 of a narrower limit ' +
        '(connection tests per config, a webhook bucket) carries that limit in them.\n\n' +
        '**CORS.** `Access-Control-Allow-Origin` is sent only for a browser origin listed in `CORS_ORIGINS`, never `*`; other cross-origin browsers are refused.\n\n' +
        '**Trying it here.** Authorize with a token (a JWT for your organization); the `org_id` of every path is then filled in from the token, ' +
        'and both are remembered by this browser until you log out.',
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
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'opaque',
        description: 'GET /metrics only: `METRICS_TOKEN` of the instance (at least 32 characters), sent by the scraper; user JWTs are refused.',
      },
      METRICS_AUTH,
    )
    .build();
  deriveSchemasFromValidators();
  return applyOpenApiConventions(SwaggerModule.createDocument(app, config), validationAnswer);
}

/** Where Swagger UI remembers the last `org_id` typed into an operation (global admins' tokens carry none). */
export const ORG_ID_STORAGE_KEY = 'meander.org_id';

// Browser code for Swagger UI's options. @nestjs/swagger writes an option function into
// swagger-ui-init.js as its source text (the page's CSP allows no inline script), so each is
// written here as browser JavaScript, on a stand-in function that only carries that text; it is
// never run by the service. Swagger UI keeps authorizations in localStorage under `authorized`
// (persistAuthorization).
const browserFunction = (source: string) => Object.assign(() => undefined, { toString: () => source });

const READ_ORG_ID = `
  try {
    var saved = JSON.parse(window.localStorage.getItem('authorized') || '{}');
    var token = saved.${BEARER_AUTH} && saved.${BEARER_AUTH}.value;
    if (token) {
      var part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      var claims = JSON.parse(window.atob(part + '==='.slice((part.length + 3) % 4)));
      if (typeof claims.org_id === 'string') return claims.org_id;
    }
  } catch (ignored) {}
  return window.localStorage.getItem('${ORG_ID_STORAGE_KEY}') || undefined;`;

/**
 * Every `org_id` path parameter starts filled in (Swagger UI applies it when an operation is
 * opened): the org_id of the authorized token, else the last one typed. Other parameters keep
 * their own default (the macro's answer replaces it).
 */
const parameterMacro = browserFunction(`function (operation, parameter) {
  if (!parameter || parameter.name !== 'org_id') return parameter && parameter.default;${READ_ORG_ID}
}`);

/** Remembers the `org_id` typed into any operation, for the next operation and the next visit. */
const rememberOrgId = browserFunction(`function (system) {
  return { statePlugins: { spec: { wrapActions: { changeParamByIdentity: function (original) {
    return function (pathMethod, param, value, isXml) {
      if (param && param.get && param.get('name') === 'org_id' && param.get('in') === 'path' && typeof value === 'string' && value) {
        window.localStorage.setItem('${ORG_ID_STORAGE_KEY}', value);
      }
      return original(pathMethod, param, value, isXml);
    };
  } } } } };
}`);

/**
 * The Authorize dialog opens on the bearer token's field: Swagger UI autofocuses every scheme's
 * input, so the last one (the metrics token) took the focus and scrolled the dialog past the
 * field an admin needs.
 */
const focusBearerField = browserFunction(`function (system) {
  return { statePlugins: { auth: { wrapActions: { showDefinitions: function (original) {
    return function (definitions) {
      var result = original(definitions);
      var tries = 0;
      (function focus() {
        var input = document.querySelector('.modal-ux .auth-container input');
        if (input) {
          input.focus({ preventScroll: true });
          var content = document.querySelector('.modal-ux-content');
          if (content) content.scrollTop = 0;
        } else if (definitions && tries++ < 50) window.requestAnimationFrame(focus);
      })();
      return result;
    };
  } } } } };
}`);

/** Swagger UI's own plugin for the top bar's document URL, kept beside ours. */
const downloadUrl = browserFunction('function (system) { return SwaggerUIBundle.plugins.DownloadUrl(system); }');

/**
 * Every response lists its RateLimit-* and CORS headers (the document's description explains them
 * once): one tight row each, so an expanded operation is not a column of header tables.
 */
const COMPACT_HEADERS = [
  '.swagger-ui table.headers thead { display: none; }',
  '.swagger-ui table.headers tbody tr td { padding: 0 12px 0 0 !important; font-size: 12px; line-height: 18px; vertical-align: top; }',
  '.swagger-ui table.headers tbody tr td p { margin: 0 !important; font-size: 12px; }',
  '.swagger-ui .response .headers__title { margin: 4px 0 0; font-size: 12px; }',
].join('\n');

/** Swagger UI at /docs with a working "Authorize" button, the OpenAPI 3 document at /docs-json. */
export function setupSwagger(app: INestApplication): OpenAPIObject {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    yamlDocumentUrl: `${DOCS_PATH}-yaml`,
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true, parameterMacro, plugins: [downloadUrl, rememberOrgId, focusBearerField] },
    customCss: COMPACT_HEADERS,
    customSiteTitle: 'Meander integrations API',
  });
  return document;
}
