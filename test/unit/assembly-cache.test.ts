/**
 * The assembly cache key covers every input of the synthesis: esbuild reads tsconfig.json when it
 * bundles the functions (paths, class-field and decorator options change the emitted code), so an
 * edit to it must re-synthesize, or `npm start` would run bundles `cdk deploy` no longer builds.
 * Works on a copy of the inputs (links to the sources, a copy of each file it edits).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { configFromEnv } from '../../lambdas/config/config';
import { INPUTS, inputHash } from '../../local/cloud-assembly';

const ROOT = path.join(__dirname, '../..');

it.each(['tsconfig.json', 'cdk.json', 'package-lock.json'])('a change to %s changes the assembly hash', (edited) => {
  const root = mkdtempSync(path.join(tmpdir(), 'assembly-inputs-'));
  try {
    for (const input of INPUTS) {
      mkdirSync(path.dirname(path.join(root, input)), { recursive: true });
      if (input === edited) copyFileSync(path.join(ROOT, input), path.join(root, input));
      else symlinkSync(path.join(ROOT, input), path.join(root, input));
    }
    const config = configFromEnv({});
    const before = inputHash(config, root);
    expect(before).toBe(inputHash(config, ROOT));
    appendFileSync(path.join(root, edited), '\n'); // a stand-in for any edit
    expect(inputHash(config, root)).not.toBe(before);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
