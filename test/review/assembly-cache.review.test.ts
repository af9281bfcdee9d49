/**
 * Review (issue 15): the assembly cache key. The Lambda bundles are built by esbuild, which reads
 * the project's tsconfig.json (esbuild auto-discovers it: paths, useDefineForClassFields,
 * experimentalDecorators, verbatimModuleSyntax... change the emitted code), but tsconfig.json is not
 * among the hashed inputs (local/cloud-assembly.ts INPUTS): after editing it, `npm start` keeps
 * running bundles that `cdk deploy` would no longer build.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { configFromEnv } from '../../lambdas/config/config';
import { inputHash } from '../../local/cloud-assembly';

const TSCONFIG = path.join(__dirname, '../../tsconfig.json');

it('review: a change to tsconfig.json changes the assembly hash', () => {
  const config = configFromEnv({});
  const original = readFileSync(TSCONFIG);
  const before = inputHash(config);
  try {
    // A byte more (a trailing newline): a stand-in for any compiler-option edit.
    writeFileSync(TSCONFIG, Buffer.concat([original, Buffer.from('\n')]));
    expect(inputHash(config)).not.toBe(before);
  } finally {
    writeFileSync(TSCONFIG, original);
  }
});
