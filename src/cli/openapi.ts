// node bin/cli.js openapi [--out openapi.json] (npm run openapi: this, then the typed client)
// Writes the OpenAPI document the service serves at /docs-json, without a database.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateOpenApiDocument, serializeOpenApiDocument } from '../http/openapi-document';
import { parseCommandArgs, runCommand } from './cli-args';

const HELP = `
usage: node bin/cli.js openapi [--out <file>]

Writes the OpenAPI document the service serves at /docs-json (no database needed).
npm run openapi runs it, then regenerates the typed client (client/meander-api.d.ts).

  --out <file>   where to write it (default: openapi.json)
  -h, --help     this text
`;

async function main(): Promise<void> {
  const values = parseCommandArgs({ help: HELP, options: { out: { type: 'string', default: 'openapi.json' } } });
  const file = resolve(values.out ?? 'openapi.json');
  const document = await generateOpenApiDocument();
  writeFileSync(file, serializeOpenApiDocument(document));
  console.log(`wrote ${file} (${Object.keys(document.paths).length} paths)`);
}

runCommand('openapi', main);
