#!/usr/bin/env node
'use strict';
// The `makini-webhooks` command (package.json "bin"): runs bin/cli.ts through tsx, so the CLI
// needs no build step after `npm ci`.
require('tsx/cjs');
require('./cli.ts').run();
