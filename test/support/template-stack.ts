/**
 * One local stack per test, started in this process so that a test can change the synthesized
 * template first (the `editTemplate` hook only exists in-process), then closed and its state
 * directory removed after the test. Its log lines are collected in `lines`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { CfnTemplate } from '../../local/cloud-assembly';
import { startLocalStack, type LocalStack } from '../../local/stack';

export interface TemplateStackOptions {
  readonly editTemplate?: (t: CfnTemplate) => void;
  readonly alarmTimeScale?: number;
  /** Settings (`MAKINI_*`) beside the log level. */
  readonly env?: Record<string, string>;
}

export function templateStackPerTest(prefix: string): { readonly dir: string; readonly lines: string[]; start(options?: TemplateStackOptions): Promise<LocalStack> } {
  let stack: LocalStack | undefined;
  let dir = '';
  const lines: string[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), prefix));
    lines.length = 0;
  });
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    lines,
    async start(options = {}) {
      const { env, ...rest } = options;
      stack = await startLocalStack({ dir, port: 0, env: { MAKINI_LOG_LEVEL: 'WARN', ...env }, log: (line) => lines.push(line), ...rest });
      return stack;
    },
  };
}
