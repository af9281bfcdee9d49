import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { startLocalSqs, type LocalSqs } from '../../local/aws/sqs';

let sqs: LocalSqs;
let client: SQSClient;
let clock: number;
let dir: string;

async function start() {
  sqs = await startLocalSqs({
    dir,
    now: () => clock,
    queues: [
      { name: 'webhooks', visibilityTimeoutSeconds: 30, redrive: { deadLetterQueue: 'webhooks-dlq', maxReceiveCount: 2 } },
      { name: 'webhooks-dlq', visibilityTimeoutSeconds: 30 },
    ],
  });
  client = new SQSClient({ endpoint: sqs.url, maxAttempts: 1 });
}
beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'local-sqs-'));
  clock = Date.parse('2026-11-22T06:00:00Z');
  await start();
});
afterEach(async () => {
  client.destroy();
  await sqs.close();
});

const url = () => sqs.queueUrl('webhooks');
const receive = async (max = 10) => (await client.send(new ReceiveMessageCommand({ QueueUrl: url(), MaxNumberOfMessages: max, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }))).Messages ?? [];

describe('local SQS endpoint (through the AWS SDK, checksum validation on)', () => {
  it('sends, receives with the right MD5, and deletes', async () => {
    expect((await client.send(new GetQueueUrlCommand({ QueueName: 'webhooks' }))).QueueUrl).toBe(url());
    await client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: '{"é":"✓"}' }));
    const [message] = await receive();
    expect(message.Body).toBe('{"é":"✓"}');
    expect(message.Attributes?.ApproximateReceiveCount).toBe('1');
    await client.send(new DeleteMessageCommand({ QueueUrl: url(), ReceiptHandle: message.ReceiptHandle }));
    expect(sqs.depth('webhooks')).toBe(0);
  });

  it('sends and deletes in batches of up to 10', async () => {
    const sent = await client.send(new SendMessageBatchCommand({ QueueUrl: url(), Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `e${i}`, MessageBody: `m${i}` })) }));
    expect(sent.Successful).toHaveLength(10);
    const messages = [...(await receive()), ...(await receive())];
    expect(messages).toHaveLength(10);
    const deleted = await client.send(new DeleteMessageBatchCommand({ QueueUrl: url(), Entries: messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }));
    expect(deleted.Successful).toHaveLength(10);
    await expect(client.send(new SendMessageBatchCommand({ QueueUrl: url(), Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x' })) }))).rejects.toMatchObject({
      name: 'TooManyEntriesInBatchRequest',
    });
  });

  it('hides a received message for the visibility timeout, then redelivers it with a higher receive count', async () => {
    await client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'hello' }));
    const [first] = await receive();
    expect(await receive()).toHaveLength(0);
    clock += 30_001;
    const [again] = await receive();
    expect(again.Attributes?.ApproximateReceiveCount).toBe('2');
    // The first receipt handle is stale now: deleting with it succeeds but deletes nothing.
    await client.send(new DeleteMessageCommand({ QueueUrl: url(), ReceiptHandle: first.ReceiptHandle }));
    expect(sqs.depth('webhooks')).toBe(1);
  });

  it('changes visibility of a message in flight', async () => {
    await client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'later' }));
    const [m] = await receive();
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: url(), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    expect(await receive()).toHaveLength(1);
  });

  it('moves a message past maxReceiveCount to the dead-letter queue, and a move task brings it back', async () => {
    await client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'poison' }));
    for (let i = 0; i < 2; i++) {
      expect(await receive()).toHaveLength(1);
      clock += 30_001;
    }
    expect(await receive()).toHaveLength(0);
    expect([sqs.depth('webhooks'), sqs.depth('webhooks-dlq')]).toEqual([0, 1]);
    const attributes = (await client.send(new GetQueueAttributesCommand({ QueueUrl: url(), AttributeNames: ['All'] }))).Attributes;
    expect(JSON.parse(attributes?.RedrivePolicy ?? '{}')).toEqual({ deadLetterTargetArn: sqs.queueArn('webhooks-dlq'), maxReceiveCount: 2 });

    await client.send(new StartMessageMoveTaskCommand({ SourceArn: sqs.queueArn('webhooks-dlq') }));
    const tasks = await client.send(new ListMessageMoveTasksCommand({ SourceArn: sqs.queueArn('webhooks-dlq') }));
    expect(tasks.Results?.[0]).toMatchObject({ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 1 });
    const [back] = await receive();
    expect(back).toMatchObject({ Body: 'poison', Attributes: { ApproximateReceiveCount: '1' } });
  });

  it('keeps every acknowledged message, and receive counts, across a restart', async () => {
    for (let i = 0; i < 5; i++) await client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: `keep-${i}` }));
    const received = await receive(2);
    await client.send(new DeleteMessageCommand({ QueueUrl: url(), ReceiptHandle: received[0].ReceiptHandle }));
    client.destroy();
    await sqs.close();

    await start(); // same journal directory
    clock += 30_001;
    const after = await receive();
    expect(after.map((m) => m.Body).sort()).toEqual(['keep-1', 'keep-2', 'keep-3', 'keep-4']);
    expect(after.find((m) => m.Body === received[1].Body)?.Attributes?.ApproximateReceiveCount).toBe('2');
  });

  it('keeps every message of concurrent sends (committed together) across a restart, and a batch fails only its bad entry', async () => {
    const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: `burst-${i}` }))));
    expect(new Set(sent.map((r) => r.MessageId)).size).toBe(40);
    const batch = await client.send(new SendMessageBatchCommand({ QueueUrl: url(), Entries: [{ Id: 'ok', MessageBody: 'batched' }, { Id: 'bad', MessageBody: '' }] }));
    expect(batch.Successful?.map((e) => e.Id)).toEqual(['ok']);
    expect(batch.Failed).toEqual([expect.objectContaining({ Id: 'bad', SenderFault: true, Code: 'MissingParameter' })]);
    client.destroy();
    await sqs.close();

    await start(); // same journal directory
    const bodies: string[] = [];
    for (let batchOf = await receive(); batchOf.length > 0; batchOf = await receive()) bodies.push(...batchOf.map((m) => m.Body!));
    expect(bodies.sort()).toEqual([...Array.from({ length: 40 }, (_, i) => `burst-${i}`), 'batched'].sort());
  });

  it('drops messages older than the retention period (4 days by default), counted from the first send even in the DLQ', async () => {
    await client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'old' }));
    clock += 2 * 86_400_000;
    await client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'young' }));
    // 'old' goes to the DLQ after two receives, keeping its first send time.
    for (let i = 0; i < 3; i++) {
      await receive();
      clock += 30_001;
    }
    const dlq = sqs.queueUrl('webhooks-dlq');
    const attributes = async (queueUrl: string) => (await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes!;
    expect((await attributes(url())).MessageRetentionPeriod).toBe('345600');
    expect(Number((await attributes(dlq)).ApproximateNumberOfMessages)).toBe(2);
    clock += 2 * 86_400_000 - 3 * 30_001; // 'old' is now exactly 4 days old; 'young' 2 days
    expect(Number((await attributes(dlq)).ApproximateNumberOfMessages)).toBe(1);
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10 }));
    expect(Messages.map((m) => m.Body)).toEqual(['young']);
    expect(sqs.depth('webhooks-dlq')).toBe(1);
  });

  it('answers AWS-style errors for unknown queues and unsupported operations', async () => {
    await expect(client.send(new GetQueueUrlCommand({ QueueName: 'nope' }))).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
    await expect(client.send(new PurgeQueueCommand({ QueueUrl: url() }))).rejects.toMatchObject({ name: 'UnknownOperationException' });
    await expect(client.send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'x', DelaySeconds: 5 }))).rejects.toMatchObject({ name: 'UnsupportedOperation' });
  });
});

describe('local SQS faults', () => {
  it("answers a fault per operation, and leaves a hanging call unanswered: the client's timeout ends it", async () => {
    const faulty = await startLocalSqs({ queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }], fault: (operation) => (operation === 'SendMessage' ? 'hang' : undefined) });
    const timed = new SQSClient({ endpoint: faulty.url, maxAttempts: 1, requestHandler: { requestTimeout: 200, throwOnRequestTimeout: true } });
    try {
      const started = Date.now();
      await expect(timed.send(new SendMessageCommand({ QueueUrl: faulty.queueUrl('webhooks'), MessageBody: 'x' }))).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(faulty.depth('webhooks')).toBe(0);
      expect(faulty.calls.SendMessage).toBeUndefined(); // a faulted call is not counted
      // Other operations are answered.
      const { Attributes } = await timed.send(new GetQueueAttributesCommand({ QueueUrl: faulty.queueUrl('webhooks'), AttributeNames: ['ApproximateNumberOfMessages'] }));
      expect(Attributes).toEqual({ ApproximateNumberOfMessages: '0' });
    } finally {
      timed.destroy();
      await faulty.close();
    }
  });

  it('ends a hanging call when the endpoint closes', async () => {
    let reached!: () => void;
    const hangs = new Promise<void>((resolve) => (reached = resolve));
    const faulty = await startLocalSqs({
      queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }],
      fault: () => {
        reached();
        return 'hang';
      },
    });
    const { request } = await import('node:http');
    const answer = new Promise<string>((resolve) => {
      const req = request(`${faulty.url}/`, { method: 'POST', headers: { 'x-amz-target': 'AmazonSQS.SendMessage', 'content-type': 'application/x-amz-json-1.0' } }, (res) => resolve(`answered ${res.statusCode}`));
      req.on('error', (error) => resolve(`ended: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
      req.end(JSON.stringify({ QueueUrl: faulty.queueUrl('webhooks'), MessageBody: 'x' }));
    });
    await hangs;
    await faulty.close(); // resolves although the call was never answered
    expect(await answer).toMatch(/^ended: /);
    expect(faulty.depth('webhooks')).toBe(0);
  });
});
