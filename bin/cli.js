#!/usr/bin/env node
// Runs a command of src/cli: from the TypeScript source where the dev tools are installed
// (development, CI), from the compiled dist/ otherwise (the production image).
'use strict';
const { join } = require('node:path');

const name = process.argv[2];
if (!name || !/^[a-z-]+$/.test(name)) {
  console.error('usage: bin/cli.js <command> [options]');
  process.exit(2);
}
process.argv.splice(2, 1);
const root = join(__dirname, '..');
let fromSource = true;
try {
  require.resolve('@swc-node/register');
} catch {
  fromSource = false;
}
if (fromSource) {
  require('@swc-node/register');
  require(join(root, 'src', 'cli', `${name}.ts`));
} else {
  require(join(root, 'dist', 'src', 'cli', `${name}.js`));
}
