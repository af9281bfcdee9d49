/**
 * `npm run mutation`: StrykerJS over lambdas/core/ and the DynamoDB event store, incremental
 * against reports/mutation/stryker-incremental.json, failing below the break threshold of
 * stryker.config.json. Then writes reports/mutation/summary.md (see docs/mutation-testing.md).
 *
 * Options: --force (re-test every mutant, rebuilding the incremental file), --mutate GLOB (narrow
 * the run while iterating; do not commit the incremental file such a run writes), --concurrency N.
 *
 * Why not the `stryker` binary: StrykerJS 10 declares Node >= 22 and its CLI refuses to start on
 * older versions, while this project's development machines and CI run Node 20 (Lambda runs 22).
 * Its library runs on Node 20 as it is: only the CLI's version guard stands in the way, so this
 * script calls the library directly. With Node 22, `npx stryker run` does the same run.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSummary } from './summary.mjs';

const { values } = parseArgs({
  options: { force: { type: 'boolean', default: false }, mutate: { type: 'string', multiple: true }, concurrency: { type: 'string' } },
});
const root = resolve(import.meta.dirname, '..');
process.chdir(root);
const { Stryker } = await import(pathToFileURL(resolve(root, 'node_modules/@stryker-mutator/core/dist/src/stryker.js')).href);

const options = {
  ...(values.force && { force: true }),
  ...(values.mutate && { mutate: values.mutate }),
  ...(values.concurrency && { concurrency: Number(values.concurrency) }),
};
const started = Date.now();
try {
  await new Stryker(options).runMutationTest();
} catch (error) {
  console.error(`mutation: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
const score = writeSummary({ seconds: Math.round((Date.now() - started) / 1000), partial: Boolean(values.mutate) });
// Stryker sets process.exitCode when the score is below `thresholds.break`.
console.log(`mutation: score ${score.toFixed(2)}% over ${values.mutate ? values.mutate.join(', ') : 'lambdas/core/ and the event store'}${process.exitCode ? ' (below the break threshold)' : ''}`);
