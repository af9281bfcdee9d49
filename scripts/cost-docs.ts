/**
 * docs/cost.md's price table (between the `prices` markers), generated from bench/cost.ts's PRICES so
 * that the page and the bench's cost rows quote the same prices. `npm run docs` rewrites it;
 * test/unit/cost-docs.test.ts fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { withPricesTable } from '../bench/cost';

export const COST_DOC = path.join(__dirname, '..', 'docs', 'cost.md');

if (require.main === module) {
  writeFileSync(COST_DOC, withPricesTable(readFileSync(COST_DOC, 'utf8')));
  console.log('docs/cost.md: price table regenerated');
}
