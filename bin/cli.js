#!/usr/bin/env node
// Runs a command of src/cli: from the TypeScript source where the dev tools are installed
// (development, CI), from the compiled dist/ otherwise (the production image).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

/** Each command: its file in src/cli, and what it does (the usage text). */
const COMMANDS = {
  token: { file: 'token', summary: 'print a development bearer token (npm run token)' },
  'keys-rotate': { file: 'keys-rotate', summary: 're-encrypt stored secrets under the active key, or check a key can be retired (npm run keys:rotate)' },
  openapi: { file: 'openapi', summary: 'write the OpenAPI document (npm run openapi)' },
};
// As npm's script names spell it.
COMMANDS['keys:rotate'] = COMMANDS['keys-rotate'];

const USAGE = [
  'usage: node bin/cli.js <command> [options]     (<command> --help: its options)',
  '',
  'commands:',
  ...['token', 'keys-rotate', 'openapi'].map((name) => `  ${name.padEnd(12)} ${COMMANDS[name].summary}`),
].join('\n');

const name = process.argv[2];
if (name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!name || !Object.hasOwn(COMMANDS, name)) {
  console.error(name ? `bin/cli.js: unknown command "${name}"\n\n${USAGE}` : USAGE);
  process.exit(1);
}
process.argv.splice(2, 1);
const root = join(__dirname, '..');
// From source only where the sources are (a packed module has dist/ alone) and swc can load them.
let fromSource = existsSync(join(root, 'src', 'cli', `${COMMANDS[name].file}.ts`));
try {
  if (fromSource) require.resolve('@swc-node/register');
} catch {
  fromSource = false;
}
if (fromSource) {
  require('@swc-node/register');
  require(join(root, 'src', 'cli', `${COMMANDS[name].file}.ts`));
} else {
  require(join(root, 'dist', 'src', 'cli', `${COMMANDS[name].file}.js`));
}
