/**
 * Turns the incremental file (reports/mutation/stryker-incremental.json, a mutation-testing report
 * with every mutant's status) into reports/mutation/summary.md: the score per file and each surviving or
 * uncovered mutant on one line. Returns the overall mutation score (detected / valid, in %).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

export function writeSummary({ seconds, partial } = {}) {
  const reportFile = resolve(root, 'reports/mutation/stryker-incremental.json');
  if (!existsSync(reportFile)) return 0;
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  const rows = [];
  const open = [];
  let detected = 0;
  let undetected = 0;
  for (const [file, { mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
    const d = mutants.filter((m) => DETECTED.has(m.status)).length;
    const u = mutants.filter((m) => UNDETECTED.has(m.status)).length;
    const ignored = mutants.filter((m) => m.status === 'Ignored').length;
    detected += d;
    undetected += u;
    rows.push(`| ${file} | ${d + u === 0 ? '–' : ((100 * d) / (d + u)).toFixed(1)} | ${d} | ${mutants.filter((m) => m.status === 'Survived').length} | ${mutants.filter((m) => m.status === 'NoCoverage').length} | ${ignored} |`);
    for (const m of mutants.filter((x) => UNDETECTED.has(x.status)).sort((a, b) => a.location.start.line - b.location.start.line)) {
      open.push(`- ${file}:${m.location.start.line}:${m.location.start.column} ${m.status} ${m.mutatorName}: \`${String(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 100)}\``);
    }
  }
  const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
  if (partial) return score; // a narrowed run does not replace the summary of the whole
  writeFileSync(
    resolve(root, 'reports/mutation/summary.md'),
    [
      '# Mutation testing: lambdas/core/ and the DynamoDB event store',
      '',
      `Written by \`npm run mutation\` (stryker/run.mjs)${seconds === undefined ? '' : `; the run took ${seconds} s`}. Score = detected (killed or timed out) / (detected + survived + no coverage).`,
      '',
      `**Mutation score: ${score.toFixed(2)}%** (${detected} detected, ${undetected} not detected).`,
      '',
      '| file | score % | detected | survived | no coverage | ignored (static, or `Stryker disable`) |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      '## Mutants not detected',
      '',
      ...(open.length > 0 ? open : ['None.']),
      '',
    ].join('\n'),
  );
  return score;
}

// `node stryker/summary.mjs`: rewrite the summary from the incremental file as it is.
if (import.meta.url === `file://${process.argv[1]}`) console.log(`mutation score ${writeSummary().toFixed(2)}%`);
