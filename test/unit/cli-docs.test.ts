import { readFileSync } from 'node:fs';
import { cliSynopsis, README, withSynopsis } from '../../scripts/cli-docs';

describe("the README's CLI synopsis", () => {
  it('is what commander’s definitions generate (run `npm run docs` after changing a command)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(withSynopsis(readme, cliSynopsis())).toBe(readme);
  });

  it('lists every command and option of the program', () => {
    const synopsis = cliSynopsis();
    for (const line of ['npx makini-webhooks dlq redrive [--max <N>]', 'npx makini-webhooks connections list [--store <S>] [--prefix <P>] [--stack <NAME>] [--local-dir <D>] [--json]', '[--no-progress]']) expect(synopsis).toContain(line);
  });
});
