/**
 * The local stack as a child process, started the way `npm start` starts it, on a random port and
 * in its own state directory. Every test stops what it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { LocalStackInfo } from '../../local/stack';

const ROOT = path.join(__dirname, '../..');

export interface StackProcess {
  readonly dir: string;
  readonly info: LocalStackInfo;
  readonly secret: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** Ctrl-C, and wait for a clean exit. */
  stop(): Promise<number | null>;
  /** kill -9, and wait until it is gone. */
  kill9(): Promise<void>;
}

export async function startStackProcess(options: { dir?: string; env?: Record<string, string> } = {}): Promise<StackProcess> {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'makini-local-'));
  let output = '';
  // One process (tsx as a loader, not its CLI, which would run the stack in a second process), so
  // signals, kill -9 included, reach the stack itself.
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', MAKINI_LOCAL_DIR: dir, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await waitFor(() => output.includes('local stack running') || child.exitCode !== null, 60_000, () => `stack did not start:\n${output}`);
  if (child.exitCode !== null) throw new Error(`stack exited with ${child.exitCode}:\n${output}`);
  const stackFile = path.join(dir, 'stack.json');
  await waitFor(() => existsSync(stackFile) && JSON.parse(readFileSync(stackFile, 'utf8')).pid === child.pid, 10_000, () => 'no stack.json');
  const info = JSON.parse(readFileSync(stackFile, 'utf8')) as LocalStackInfo;
  const secret = options.env?.MAKINI_WEBHOOK_SECRET ?? readFileSync(info.secretFile, 'utf8').trim();
  return {
    dir,
    info,
    secret,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
    kill9: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits for a condition (not for an amount of time), checking every 100 ms, up to `timeoutMs`. */
/** Runs `npm start`'s entry point until it exits (for the cases where it must), with its output. */
export function startExpectingExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], { cwd: ROOT, env: { ...process.env, PORT: '0', DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000, describe: () => string = () => 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Messages in the stack's webhook queue, visible or in flight. */
export async function queueDepth(s: StackProcess): Promise<number> {
  const sqs = new SQSClient({ endpoint: s.info.endpoints.sqs, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: s.info.queueUrl, AttributeNames: ['All'] }));
    return Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible);
  } finally {
    sqs.destroy();
  }
}
