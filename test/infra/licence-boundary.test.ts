/**
 * The AGPL-licensed IAM simulator (@cloud-copilot/iam-simulate) is a dev-only oracle: the rule
 * `no-agpl-in-shipped-code` of `.dependency-cruiser.cjs` keeps it out of lambdas/, lib/, local/ and bin/.
 * Proved to bite on a planted import (the rules holding for the repository is test/infra/dependencies.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '../..');
const CRUISE = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

describe('the licence boundary', () => {
  it('catches local/ importing the AGPL IAM simulator', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'depcruise-agpl-'));
    mkdirSync(path.join(dir, 'local/aws'), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    copyFileSync(path.join(ROOT, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
    copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
    writeFileSync(path.join(dir, 'local/aws/iam.ts'), "import { runSimulation } from '@cloud-copilot/iam-simulate';\nexport const simulate = runSimulation;\n");
    let output = '';
    let code = 0;
    try {
      output = execFileSync(process.execPath, [CRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'local'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const e = error as { status: number; stdout: string; stderr: string };
      code = e.status;
      output = `${e.stdout}${e.stderr}`;
    }
    expect(code).not.toBe(0);
    expect(output).toMatch(/no-agpl-in-shipped-code: local\/aws\/iam\.ts → (.*node_modules\/)?@cloud-copilot\/iam-simulate/);
  }, 60_000);
});
