#!/usr/bin/env node
'use strict';
// The `makini-webhooks` command (package.json "bin"): runs bin/cli.ts through tsx, so the CLI
// needs no build step after `npm ci`.
// The SDK warns on Node 20 that it will need 22 from 2027; that says nothing about this command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('./cli.ts').run();
