// npm run openapi [-- --out openapi.json]
// Writes the OpenAPI document the service serves at /docs-json, without a database.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateOpenApiDocument, serializeOpenApiDocument } from '../http/openapi-document';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'openapi.json' } } });
  const file = resolve(values.out);
  const document = await generateOpenApiDocument();
  writeFileSync(file, serializeOpenApiDocument(document));
  console.log(`wrote ${file} (${Object.keys(document.paths).length} paths)`);
}

main().catch((error: unknown) => {
  console.error(`openapi: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
