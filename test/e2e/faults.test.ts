import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { GetQueueAttributesCommand, SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import { readBusLog } from '../../local/aws/eventbridge';
import { simulate } from '../../local/simulator';
import { makiniScheme } from '../../lambdas/core/signature';
import { startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(180_000);

const makini = makiniScheme('x-makini-signature', 'sha256');
/** Consumer timeout 1 s: visibility 6 s, so failed messages come back quickly. */
const FAST = { MAKINI_CONSUMER_TIMEOUT_SECONDS: '1', MAKINI_MAX_RECEIVE_COUNT: '2' };
let stack: StackProcess | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const setFaults = (s: StackProcess, faults: Record<string, string> | undefined) =>
  faults ? writeFileSync(path.join(s.dir, 'faults.json'), JSON.stringify(faults)) : rmSync(path.join(s.dir, 'faults.json'), { force: true });
const occurrences = (text: string, needle: string) => text.split(needle).length - 1;
async function attributes(s: StackProcess, queueUrl: string) {
  const sqs = new SQSClient({ endpoint: s.info.endpoints.sqs });
  try {
    return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes ?? {};
  } finally {
    sqs.destroy();
  }
}
async function events(s: StackProcess) {
  const { stdout } = await cli(['events', '--json', '--local-dir', s.dir]);
  return JSON.parse(stdout) as { webhookId: string }[];
}

describe('local stack under injected faults (no acknowledged webhook lost)', () => {
  it('SQS unavailable: the receiver answers 503, and Makini’s retries succeed once SQS is back', async () => {
    stack = await startStackProcess({ env: FAST });
    setFaults(stack, { sqs: 'unavailable' });
    const body = JSON.stringify({ id: 'evt_direct', type: 'sync.completed', timestamp: '2026-11-22T05:00:00Z', connection_id: 'conn_f', data: {} });
    const direct = await fetch(stack.info.webhookUrl, { method: 'POST', headers: makini.sign(Buffer.from(body), stack.secret), body });
    expect(direct.status).toBe(503);
    expect(direct.headers.get('retry-after')).toBe('30');

    const run = simulate({ url: stack.info.webhookUrl, secret: stack.secret, scheme: makini, connections: 2, events: 3, duplicates: 0, shuffle: false, rate: 0, concurrency: 2, timeScale: 0.001, seed: 3 });
    // Wait until the simulator itself has been refused, then bring SQS back.
    await waitFor(() => occurrences(stack!.output(), 'dependency unavailable') >= 3, 30_000, () => 'the simulator to meet the outage');
    setFaults(stack, undefined);
    const result = await run;
    expect(result).toMatchObject({ sent: 6, acknowledged: 6, failed: 0 });
    expect(result.retried).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await events(stack!)).length === 6, 60_000, () => 'all six processed');
  });

  it('a poison message lands in the dead-letter queue, and a redrive after the fix processes it', async () => {
    stack = await startStackProcess({ env: FAST });
    setFaults(stack, { eventBridge: 'unavailable' }); // every publish fails: the record can never complete
    const body = JSON.stringify({ id: 'evt_poison', type: 'connection.status_changed', timestamp: '2026-11-22T05:00:00Z', connection_id: 'conn_p', data: { status: 'offline' } });
    const response = await fetch(stack.info.webhookUrl, { method: 'POST', headers: makini.sign(Buffer.from(body), stack.secret), body });
    expect(response.status).toBe(200);

    await waitFor(async () => (await attributes(stack!, stack!.info.deadLetterQueueUrl)).ApproximateNumberOfMessages === '1', 90_000, () => 'the message to reach the DLQ');
    expect(Number((await attributes(stack, stack.info.queueUrl)).ApproximateNumberOfMessages)).toBe(0);
    expect(readBusLog(stack.info.busLog)).toEqual([]);

    setFaults(stack, undefined); // the fix
    const dlqArn = (await attributes(stack, stack.info.deadLetterQueueUrl)).QueueArn;
    const sqs = new SQSClient({ endpoint: stack.info.endpoints.sqs });
    try {
      await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    } finally {
      sqs.destroy();
    }
    await waitFor(() => readBusLog(stack!.info.busLog).length === 1, 60_000, () => 'the redriven message to be processed');
    expect(await events(stack)).toEqual([expect.objectContaining({ webhookId: 'evt_poison' })]);
  });
});

describe('DynamoDB throttling', () => {
  it('fails only the throttled records, which are retried and processed once', async () => {
    stack = await startStackProcess({ env: { ...FAST, MAKINI_MAX_RECEIVE_COUNT: '10' } });
    setFaults(stack, { dynamodb: 'throttled' });
    const body = JSON.stringify({ id: 'evt_throttled', type: 'sync.failed', timestamp: '2026-11-22T05:00:00Z', connection_id: 'conn_t', data: {} });
    expect((await fetch(stack.info.webhookUrl, { method: 'POST', headers: makini.sign(Buffer.from(body), stack.secret), body })).status).toBe(200);
    await waitFor(() => stack!.output().includes('record failed; SQS will retry it'), 30_000, () => 'the consumer to meet the throttling');
    setFaults(stack, undefined);
    await waitFor(async () => (await events(stack!)).length === 1, 60_000, () => 'the retried record to be processed');
    const { stdout } = await cli(['events', '--json', '--local-dir', stack.dir]);
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ webhookId: 'evt_throttled', deliveries: 1 })]);
    expect(readBusLog(stack.info.busLog)).toHaveLength(1);
  });
});
