import { readFileSync } from 'node:fs';
import { PRICES, pricesTable, withPricesTable } from '../../bench/cost';
import { COST_DOC } from '../../scripts/cost-docs';

describe("docs/cost.md's prices", () => {
  it('are the prices the bench computes with (run `npm run docs` after changing bench/cost.ts)', () => {
    const page = readFileSync(COST_DOC, 'utf8');
    expect(withPricesTable(page)).toBe(page);
  });

  it('list every price, each with its date and page', () => {
    const table = pricesTable();
    for (const price of Object.values(PRICES)) expect(table).toContain(`| ${price.label} | ${price.usd} | ${price.since} | ${price.page} |`);
    expect(table.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| price'))).toHaveLength(Object.keys(PRICES).length);
  });
});
