/**
 * The local SQS event-source mapping deletes what Lambda would delete, and no more: with
 * `ReportBatchItemFailures` only the records not reported; without it, Lambda ignores the response
 * (a normal return deletes the whole batch, reported failures included); a throw retries all of it.
 * Real local SQS on 127.0.0.1, with its clock in the test's hands.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { startLocalSqs, type LocalSqs } from '../../local/aws/sqs';
import { startEventSourceMapping } from '../../local/stack';

let sqs: LocalSqs;
let client: SQSClient;
let clock: number;
let dir: string;
const saved = process.env.AWS_ENDPOINT_URL_SQS;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'esm-'));
  clock = Date.parse('2026-12-02T06:00:00Z');
  sqs = await startLocalSqs({ dir, now: () => clock, queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }] });
  // The mapping's own client finds the queue the way the functions do: through the endpoint variable.
  process.env.AWS_ENDPOINT_URL_SQS = sqs.url;
  client = new SQSClient({ endpoint: sqs.url, maxAttempts: 1 });
  await client.send(new SendMessageBatchCommand({ QueueUrl: sqs.queueUrl('webhooks'), Entries: ['a', 'b', 'c'].map((body) => ({ Id: body, MessageBody: body })) }));
});
afterEach(async () => {
  client.destroy();
  await sqs.close();
  if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SQS;
  else process.env.AWS_ENDPOINT_URL_SQS = saved;
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the mapping for one invocation of the whole batch, then says which bodies come back after the visibility timeout. */
async function afterOneBatch(reportBatchItemFailures: boolean, handler: (records: SQSRecord[]) => { batchItemFailures: { itemIdentifier: string }[] }): Promise<string[]> {
  let invoked!: () => void;
  const once = new Promise<void>((resolve) => (invoked = resolve));
  const batches: string[][] = [];
  const mapping = startEventSourceMapping({
    queueUrl: sqs.queueUrl('webhooks'),
    queueArn: 'arn:aws:sqs:us-east-1:000000000000:webhooks',
    batchSize: 10,
    // The three messages arrive in one batch: the window waits for them.
    batchingWindowMs: 200,
    pollers: 1,
    reportBatchItemFailures,
    onError: () => undefined,
    invoke: async (records) => {
      batches.push(records.map((r) => r.body));
      try {
        return handler(records);
      } finally {
        invoked();
      }
    },
  });
  await once;
  await mapping.stop();
  expect(batches).toEqual([['a', 'b', 'c']]);
  clock += 31_000;
  const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('webhooks'), MaxNumberOfMessages: 10 }));
  return Messages.map((m) => m.Body!).sort();
}

const failB = (records: SQSRecord[]) => ({ batchItemFailures: records.filter((r) => r.body === 'b').map((r) => ({ itemIdentifier: r.messageId })) });

describe('the local SQS event-source mapping', () => {
  it('with ReportBatchItemFailures, deletes all but the reported record, which comes back', async () => {
    expect(await afterOneBatch(true, failB)).toEqual(['b']);
  });

  it('without ReportBatchItemFailures, ignores the response: the reported failure is deleted with the rest, as on AWS', async () => {
    expect(await afterOneBatch(false, failB)).toEqual([]);
  });

  // The Lambda Developer Guide (SQS, partial batch responses): an empty or unknown itemIdentifier fails the whole batch.
  it.each([['not in the batch', 'not-a-message-id-of-this-batch'], ['empty', '']])('an itemIdentifier %s: every record comes back', async (_, itemIdentifier) => {
    expect(await afterOneBatch(true, () => ({ batchItemFailures: [{ itemIdentifier }] }))).toEqual(['a', 'b', 'c']);
  });

  it.each([true, false])('a throwing invocation (ReportBatchItemFailures %s) retries the whole batch', async (report) => {
    expect(
      await afterOneBatch(report, () => {
        throw new Error('boom');
      }),
    ).toEqual(['a', 'b', 'c']);
  });
});
