import { execFile } from 'node:child_process';
import * as path from 'node:path';

const CLI = path.join(__dirname, '../../bin/makini-webhooks.cjs');

/** Runs `makini-webhooks` as a separate process, as a user would. */
export function cli(args: string[], stdin?: Buffer | string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'buffer', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: stdout.toString(), stderr: stderr.toString() });
    });
    child.stdin?.end(stdin ?? '');
  });
}
