/**
 * The dependency rules of `.dependency-cruiser.cjs` (dependency-cruiser, through its CLI: the
 * package is ESM-only and Jest runs CommonJS here): the runtime never imports the CDK app or the local
 * stack, and lambdas/core imports no AWS code. The rules are proved to bite on a planted violation.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '../..');
const CRUISE = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

function cruise(cwd: string): { code: number; output: string } {
  try {
    const output = execFileSync(process.execPath, [CRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'lambdas', 'lib', 'local', 'bin'], { cwd, encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, output };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

describe('dependency rules', () => {
  it('hold for this repository', () => {
    const { code, output } = cruise(ROOT);
    expect(output).toMatch(/no dependency violations found/);
    expect(code).toBe(0);
  }, 60_000);

  it('catch a runtime import of lib/ (type-only included) and an AWS SDK import in lambdas/core', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'depcruise-'));
    for (const sub of ['lambdas/core', 'lib', 'local', 'bin']) mkdirSync(path.join(dir, sub), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    copyFileSync(path.join(ROOT, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
    copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
    writeFileSync(path.join(dir, 'lib/settings.ts'), 'export type Settings = { a: number };\n');
    writeFileSync(path.join(dir, 'lambdas/handler.ts'), "import type { Settings } from '../lib/settings';\nexport const s: Settings = { a: 1 };\n");
    writeFileSync(path.join(dir, 'lambdas/core/pure.ts'), "import { SQSClient } from '@aws-sdk/client-sqs';\nexport const c = SQSClient;\n");
    writeFileSync(path.join(dir, 'bin/app.ts'), "import '../lambdas/handler';\nimport '../lambdas/core/pure';\n");
    const { code, output } = cruise(dir);
    expect(code).not.toBe(0);
    expect(output).toMatch(/lambdas-import-no-infrastructure: lambdas\/handler\.ts → lib\/settings\.ts/);
    expect(output).toMatch(/core-is-pure: lambdas\/core\/pure\.ts → (.*node_modules\/)?@aws-sdk\/client-sqs/);
  }, 60_000);
});
