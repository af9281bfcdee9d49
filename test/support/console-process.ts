/**
 * `makini-webhooks console` as a child process, as a user runs it, and Debian's chromium driven by
 * playwright-core. There is no skip: without chromium the browser tests fail (CI installs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { waitFor } from './local-stack-process';

const CLI = path.join(__dirname, '../../bin/makini-webhooks.cjs');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface ConsoleProcess {
  /** The first line it printed: the URL with its token. */
  readonly url: string;
  readonly origin: string;
  readonly token: string;
  output(): string;
  stop(): Promise<number | null>;
}

export async function startConsoleProcess(args: string[]): Promise<ConsoleProcess> {
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [CLI, 'console', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(() => output.includes('\n') || child.exitCode !== null, 60_000, () => `the console to print its URL:\n${output}`);
  if (child.exitCode !== null) throw new Error(`console exited with ${child.exitCode}:\n${output}`);
  const url = output.split('\n')[0];
  const parsed = new URL(url);
  return {
    url,
    origin: parsed.origin,
    token: parsed.searchParams.get('token') ?? '',
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}
