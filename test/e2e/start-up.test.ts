/**
 * How `npm start` behaves when it cannot start, or restarts after a crash: one clear line and an
 * exit code (no stack trace unless DEBUG), one stack per state directory, and messages a crashed
 * process held become visible again at once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { listenOnLoopback } from '../../local/loopback-server';
import { makiniScheme } from '../../lambdas/core/signature';
import { startExpectingExit, startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(120_000);

let stacks: StackProcess[] = [];
afterEach(async () => {
  await Promise.all(stacks.map((s) => s.stop()));
  stacks = [];
});

const oneLine = (output: string) => output.trim().split('\n');

async function inFlight(s: StackProcess): Promise<number> {
  const sqs = new SQSClient({ endpoint: s.info.endpoints.sqs, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: s.info.queueUrl, AttributeNames: ['ApproximateNumberOfMessagesNotVisible'] }));
    return Number(Attributes.ApproximateNumberOfMessagesNotVisible);
  } finally {
    sqs.destroy();
  }
}

describe('npm start, when it cannot start', () => {
  it('a second start on the same state directory says one is running, with its pid and URL, and exits 1', async () => {
    const first = await startStackProcess();
    stacks.push(first);
    const second = await startExpectingExit({ MAKINI_LOCAL_DIR: first.dir });
    expect(second.code).toBe(1);
    expect(oneLine(second.output)).toEqual([`npm start: a local stack is already running on ${first.dir}/ (pid ${first.child.pid}, ${first.info.webhookUrl}); stop it, or use another MAKINI_LOCAL_DIR`]);
    // The first one is untouched.
    expect((await fetch(first.info.webhookUrl, { method: 'GET' })).status).toBe(405);
  });

  it('a port in use: one line, exit 2, no stack trace', async () => {
    const taken = await listenOnLoopback(createServer(), 0);
    try {
      const port = new URL(taken.url).port;
      const result = await startExpectingExit({ MAKINI_LOCAL_DIR: mkdtempSync(path.join(tmpdir(), 'makini-local-')), PORT: port });
      expect(result.code).toBe(2);
      expect(oneLine(result.output)).toEqual([`npm start: port ${port} is in use; start with PORT=<another> (0 picks a free one)`]);
    } finally {
      await taken.close();
    }
  });

  it('a bad setting: one line, exit 2, no stack trace', async () => {
    const result = await startExpectingExit({ MAKINI_LOCAL_DIR: mkdtempSync(path.join(tmpdir(), 'makini-local-')), MAKINI_MAX_BODY_BYTES: 'lots' });
    expect(result.code).toBe(2);
    expect(oneLine(result.output)).toEqual([expect.stringMatching(/^npm start: Invalid makini-webhook-ingestion configuration: - maxBodyBytes: must be a whole number/)]);
  });

  it('a corrupt state directory: one line naming --reset, exit 2; with DEBUG, the stack trace too', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'makini-local-'));
    writeFileSync(path.join(dir, 'secrets.json'), '{ not json');
    const result = await startExpectingExit({ MAKINI_LOCAL_DIR: dir });
    expect(result.code).toBe(2);
    expect(oneLine(result.output)).toEqual([expect.stringMatching(new RegExp(`^npm start: the state directory ${dir}/ is unreadable \\(.*\\); npm start -- --reset wipes it$`))]);
    const debug = await startExpectingExit({ MAKINI_LOCAL_DIR: dir, DEBUG: '1' });
    expect(debug.output).toMatch(/\n\s+at /);
  });
});

describe('npm start, after a crash', () => {
  it('makes the messages the dead process held visible again at once (on AWS the visibility timeout applies)', async () => {
    const first = await startStackProcess();
    // The consumer fails while DynamoDB is down: the message stays in flight for 6 x 30 s.
    writeFileSync(path.join(first.dir, 'faults.json'), JSON.stringify({ dynamodb: 'unavailable' }));
    const body = JSON.stringify({ event: 'assets.updated', body: ['a1b2'] });
    const signed = makiniScheme('x-webhook-signature', 'sha256').sign(Buffer.from(body), first.secret);
    expect((await fetch(first.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...signed }, body })).status).toBe(200);
    await waitFor(() => inFlight(first).then((n) => n === 1), 20_000, () => 'the consumer to hold the message'); // received, failed, hidden
    await first.kill9();
    writeFileSync(path.join(first.dir, 'faults.json'), '{}');

    const restarted = await startStackProcess({ dir: first.dir });
    stacks.push(restarted);
    // Well inside the 180 s visibility timeout.
    await waitFor(async () => {
      const { stdout } = await cli(['events', '--json', '--local-dir', restarted.dir]);
      return (JSON.parse(stdout) as { type: string }[]).some((e) => e.type === 'assets.updated');
    }, 20_000, () => 'the held message to be processed after the restart');
  });
});
