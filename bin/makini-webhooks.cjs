#!/usr/bin/env node
'use strict';
// The `makini-webhooks` command (package.json "bin"). In the npm package it runs the compiled,
// bundled CLI (dist/cli.cjs, built by `npm run package`). In a source checkout, where bin/cli.ts is
// present, it runs that through tsx, so the CLI needs no build step after `npm ci` and never runs
// a stale build.
// The SDK warns on Node 20 that it will need 22 from 2027; that says nothing about this command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const path = require('node:path');
if (require('node:fs').existsSync(path.join(__dirname, 'cli.ts'))) {
  require('tsx/cjs');
  require('./cli.ts').run();
} else {
  require('../dist/cli.cjs').run();
}
