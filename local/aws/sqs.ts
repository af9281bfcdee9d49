/**
 * A local SQS (AWS JSON 1.0) for development and tests. It implements the operations this project,
 * its CLI and redrive use, with the AWS behaviours they rely on:
 * - SendMessage(Batch) answers with the body's MD5 (the SDK verifies it) only once the message is
 *   journaled and fsynced, so a `kill -9` at any moment loses nothing that was acknowledged. Sends
 *   arriving in the same event-loop turn share one write and one fsync (group commit): one fsync
 *   per send stalled the whole local stack under load;
 * - ReceiveMessage (long polling, up to 10) hides messages for the visibility timeout, counts
 *   `ApproximateReceiveCount`, and moves a message past its queue's `maxReceiveCount` to the
 *   dead-letter queue instead of delivering it;
 * - DeleteMessage(Batch) and ChangeMessageVisibility honour only the latest receipt handle;
 * - StartMessageMoveTask moves a dead-letter queue back to its source (redrive).
 * Message attributes, FIFO queues and delays are not implemented and are refused with AWS-style errors.
 * Reach it with AWS_ENDPOINT_URL_SQS.
 */
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { AwsError, startJsonEndpoint, type Fault, type JsonEndpoint } from './json-endpoint';

export interface LocalQueueDefinition {
  readonly name: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxMessageBytes?: number;
  /** How long a message is kept, from its first send (a DLQ keeps the original time, as standard queues do). @default 345600 (4 days, AWS's default) */
  readonly retentionSeconds?: number;
  /** Redrive: after `maxReceiveCount` receives, a message moves to the named queue. */
  readonly redrive?: { readonly deadLetterQueue: string; readonly maxReceiveCount: number };
}

interface Message {
  readonly id: string;
  readonly body: string;
  readonly md5: string;
  readonly sentAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  visibleAt: number;
  receipt?: string;
}

interface Queue {
  readonly definition: LocalQueueDefinition;
  readonly arn: string;
  readonly messages: Map<string, Message>;
  readonly journal?: string;
}

export interface LocalSqs extends JsonEndpoint {
  queueUrl(name: string): string;
  queueArn(name: string): string;
  /** Messages in a queue, visible or not, for assertions and `health`. */
  depth(name: string): number;
  /** The bodies of a queue's messages, visible or not, in queue order, without receiving them. */
  peek(name: string): string[];
  /** What CloudWatch's AWS/SQS metrics report for a queue: visible messages, and the age of the oldest one. */
  metrics(name: string): { visible: number; notVisible: number; oldestAgeSeconds: number };
}

const ACCOUNT = '000000000000';
const DEFAULT_RETENTION_SECONDS = 345_600;
const REGION = 'us-east-1';
const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

export async function startLocalSqs(options: {
  queues: readonly LocalQueueDefinition[];
  dir?: string;
  port?: number;
  now?: () => number;
  /** Consulted on every call, with its operation: the fault in force, if any. */
  fault?: (operation: string) => Fault | undefined;
  /** IAM for each call (see local/aws/authorization.ts). */
  authorize?: Parameters<typeof startJsonEndpoint>[0]['authorize'];
  /**
   * Make messages received before a restart visible at once: the process that held them is gone
   * (the local stack runs one process per state directory). On AWS their visibility timeout applies.
   */
  releaseOnStart?: boolean;
}): Promise<LocalSqs> {
  const now = options.now ?? Date.now;
  const queues = new Map<string, Queue>();
  const moveTasks: { handle: string; source: string; destination: string; moved: number; startedAt: number }[] = [];
  if (options.dir) mkdirSync(options.dir, { recursive: true });
  for (const definition of options.queues) {
    const journal = options.dir ? path.join(options.dir, `${definition.name}.jsonl`) : undefined;
    const messages = journal ? replay(journal) : new Map<string, Message>();
    if (options.releaseOnStart) for (const message of messages.values()) message.visibleAt = 0;
    queues.set(definition.name, { definition, arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${definition.name}`, messages, journal });
  }
  const pendingCommits = new Map<Queue, PendingCommit[]>();
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };

  let baseUrl = '';
  /** Drops the messages older than the queue's retention period, as SQS does, and returns the queue. */
  const expired = (queue: Queue): Queue => {
    const oldestKept = now() - (queue.definition.retentionSeconds ?? DEFAULT_RETENTION_SECONDS) * 1000;
    for (const message of queue.messages.values()) {
      if (message.sentAt > oldestKept) continue;
      queue.messages.delete(message.id);
      append(queue, { t: 'd', id: message.id });
    }
    return queue;
  };
  const queueOf = (input: Record<string, unknown>): Queue => {
    const url = String(input.QueueUrl ?? '');
    const queue = queues.get(url.slice(url.lastIndexOf('/') + 1));
    if (!queue || !url.includes(`/${ACCOUNT}/`)) throw new AwsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return expired(queue);
  };
  const byArn = (arn: unknown): Queue => {
    const queue = [...queues.values()].find((q) => q.arn === arn);
    if (!queue) throw new AwsError('ResourceNotFoundException', `No queue ${String(arn)}.`);
    return expired(queue);
  };

  /** Validates and journals a message, and makes it receivable once its journal line is on disk. */
  async function send(queue: Queue, body: unknown, extra: Record<string, unknown>): Promise<{ MessageId: string; MD5OfMessageBody: string }> {
    if (extra.MessageAttributes || extra.MessageSystemAttributes) throw new AwsError('UnsupportedOperation', 'Message attributes are not supported by this local endpoint.');
    if (extra.DelaySeconds) throw new AwsError('UnsupportedOperation', 'DelaySeconds is not supported by this local endpoint.');
    if (typeof body !== 'string' || body.length === 0) throw new AwsError('MissingParameter', 'The request must contain the parameter MessageBody.');
    if (Buffer.byteLength(body) > (queue.definition.maxMessageBytes ?? 1_048_576)) throw new AwsError('InvalidParameterValue', 'One or more parameters are invalid. Reason: Message must be shorter than the maximum message size.');
    if (/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(body)) throw new AwsError('InvalidMessageContents', 'Invalid characters found.');
    const message: Message = { id: randomUUID(), body, md5: md5(body), sentAt: now(), receiveCount: 0, visibleAt: 0 };
    await commit(queue, { t: 's', id: message.id, body, at: message.sentAt });
    queue.messages.set(message.id, message);
    wake();
    return { MessageId: message.id, MD5OfMessageBody: message.md5 };
  }

  /** Group commit: the lines of one event-loop turn are written and fsynced together. */
  function commit(queue: Queue, record: Record<string, unknown>): Promise<void> {
    if (!queue.journal) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const batch = (pendingCommits.get(queue) ?? []) as PendingCommit[];
      batch.push({ line: `${JSON.stringify(record)}\n`, resolve, reject });
      if (batch.length > 1) return;
      pendingCommits.set(queue, batch);
      setImmediate(() => {
        pendingCommits.delete(queue);
        // Written now, in order with every other journal line; fsynced off the event loop (the
        // stack's one thread spent 7 % of a 200/s run blocked in fsync before), answered after.
        let fd: number | undefined;
        const settle = (error: unknown) => {
          if (fd !== undefined) closeSync(fd);
          for (const c of batch) (error ? c.reject(error) : c.resolve());
        };
        try {
          fd = openSync(queue.journal!, 'a');
          writeSync(fd, batch.map((c) => c.line).join(''));
          fsync(fd, settle);
        } catch (error) {
          settle(error);
        }
      });
    });
  }

  function receive(queue: Queue, max: number, visibilityMs: number): Message[] {
    const out: Message[] = [];
    for (const message of queue.messages.values()) {
      if (out.length >= max) break;
      if (message.visibleAt > now()) continue;
      const redrive = queue.definition.redrive;
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        moveMessage(queue, queues.get(redrive.deadLetterQueue)!, message);
        continue;
      }
      message.receiveCount++;
      message.firstReceivedAt ??= now();
      message.visibleAt = now() + visibilityMs;
      message.receipt = `${message.id}#${message.receiveCount}#${randomUUID()}`;
      append(queue, { t: 'r', id: message.id, n: message.receiveCount, v: message.visibleAt });
      out.push(message);
    }
    return out;
  }

  function moveMessage(from: Queue, to: Queue, message: Message): void {
    const copy: Message = { id: message.id, body: message.body, md5: message.md5, sentAt: message.sentAt, receiveCount: 0, visibleAt: 0 };
    durableAppend(to, { t: 's', id: copy.id, body: copy.body, at: copy.sentAt });
    to.messages.set(copy.id, copy);
    from.messages.delete(message.id);
    append(from, { t: 'd', id: message.id });
  }

  function remove(queue: Queue, receipt: unknown): void {
    const id = String(receipt ?? '').split('#')[0];
    const message = queue.messages.get(id);
    if (!message) {
      if (!/^[0-9a-f-]{36}#\d+#/.test(String(receipt))) throw new AwsError('ReceiptHandleIsInvalid', 'The input receipt handle is invalid.');
      return; // already deleted: AWS answers success
    }
    if (message.receipt !== receipt) return; // a stale handle succeeds without deleting, as in AWS
    queue.messages.delete(id);
    append(queue, { t: 'd', id });
  }

  const endpoint = await startJsonEndpoint({
    service: 'AmazonSQS',
    protocol: '1.0',
    port: options.port,
    fault: options.fault,
    authorize: options.authorize,
    operations: {
      GetQueueUrl(input) {
        const name = String(input.QueueName ?? '');
        if (!queues.has(name)) throw new AwsError('QueueDoesNotExist', 'The specified queue does not exist.');
        return { QueueUrl: `${baseUrl}/${ACCOUNT}/${name}` };
      },
      GetQueueAttributes(input) {
        const queue = queueOf(input);
        const visible = [...queue.messages.values()].filter((m) => m.visibleAt <= now()).length;
        const all: Record<string, string> = {
          QueueArn: queue.arn,
          ApproximateNumberOfMessages: String(visible),
          ApproximateNumberOfMessagesNotVisible: String(queue.messages.size - visible),
          ApproximateNumberOfMessagesDelayed: '0',
          VisibilityTimeout: String(queue.definition.visibilityTimeoutSeconds),
          MaximumMessageSize: String(queue.definition.maxMessageBytes ?? 1_048_576),
          MessageRetentionPeriod: String(queue.definition.retentionSeconds ?? DEFAULT_RETENTION_SECONDS),
          ...(queue.definition.redrive && {
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queues.get(queue.definition.redrive.deadLetterQueue)!.arn, maxReceiveCount: queue.definition.redrive.maxReceiveCount }),
          }),
        };
        const names = (input.AttributeNames as string[] | undefined) ?? ['All'];
        return { Attributes: names.includes('All') ? all : Object.fromEntries(names.filter((n) => n in all).map((n) => [n, all[n]])) };
      },
      SendMessage(input) {
        const { QueueUrl: _url, MessageBody, ...extra } = input;
        return send(queueOf(input), MessageBody, extra);
      },
      async SendMessageBatch(input) {
        const queue = queueOf(input);
        const entries = (input.Entries as Record<string, unknown>[] | undefined) ?? [];
        if (entries.length === 0) throw new AwsError('EmptyBatchRequest', 'The batch request does not contain any entries.');
        if (entries.length > 10) throw new AwsError('TooManyEntriesInBatchRequest', 'Maximum number of entries per request are 10.');
        const results = await Promise.allSettled(entries.map(({ MessageBody, Id: _id, ...extra }) => send(queue, MessageBody, extra)));
        const Successful: unknown[] = [];
        const Failed: unknown[] = [];
        results.forEach((result, i) => {
          const Id = entries[i].Id;
          if (result.status === 'fulfilled') Successful.push({ Id, ...result.value });
          else if (result.reason instanceof AwsError) Failed.push({ Id, SenderFault: true, Code: result.reason.type, Message: result.reason.message });
          else throw result.reason; // the journal failed: the whole call fails, as a 500
        });
        return { Successful, Failed };
      },
      async ReceiveMessage(input) {
        const queue = queueOf(input);
        const max = Number(input.MaxNumberOfMessages ?? 1);
        if (!Number.isInteger(max) || max < 1 || max > 10) throw new AwsError('InvalidParameterValue', 'MaxNumberOfMessages must be from 1 to 10.');
        const visibilityMs = Number(input.VisibilityTimeout ?? queue.definition.visibilityTimeoutSeconds) * 1000;
        const waitMs = Math.min(20, Number(input.WaitTimeSeconds ?? 0)) * 1000;
        let messages = receive(queue, max, visibilityMs);
        if (messages.length === 0 && waitMs > 0) {
          // Long polling: wake on a send, or re-check now and then for messages turning visible.
          const deadline = Date.now() + waitMs;
          while (messages.length === 0 && Date.now() < deadline) {
            await new Promise<void>((resolve) => {
              const done = () => {
                clearTimeout(timer);
                waiters.delete(done);
                resolve();
              };
              const timer = setTimeout(done, Math.min(200, Math.max(0, deadline - Date.now())));
              waiters.add(done);
            });
            messages = receive(queue, max, visibilityMs);
          }
        }
        return {
          Messages: messages.map((m) => ({
            MessageId: m.id,
            ReceiptHandle: m.receipt,
            MD5OfBody: m.md5,
            Body: m.body,
            Attributes: { ApproximateReceiveCount: String(m.receiveCount), SentTimestamp: String(m.sentAt), ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt) },
          })),
        };
      },
      DeleteMessage(input) {
        remove(queueOf(input), input.ReceiptHandle);
        return {};
      },
      DeleteMessageBatch(input) {
        const queue = queueOf(input);
        const Successful: unknown[] = [];
        const Failed: unknown[] = [];
        for (const { Id, ReceiptHandle } of (input.Entries as Record<string, unknown>[] | undefined) ?? []) {
          try {
            remove(queue, ReceiptHandle);
            Successful.push({ Id });
          } catch (error) {
            Failed.push({ Id, SenderFault: true, Code: (error as AwsError).type, Message: (error as Error).message });
          }
        }
        return { Successful, Failed };
      },
      ChangeMessageVisibility(input) {
        const queue = queueOf(input);
        const receipt = String(input.ReceiptHandle ?? '');
        const message = queue.messages.get(receipt.split('#')[0]);
        if (!message || message.receipt !== receipt || message.visibleAt <= now()) {
          throw new AwsError('MessageNotInflight', 'The message referred to is not in flight.');
        }
        message.visibleAt = now() + Number(input.VisibilityTimeout ?? 0) * 1000;
        append(queue, { t: 'r', id: message.id, n: message.receiveCount, v: message.visibleAt });
        wake();
        return {};
      },
      StartMessageMoveTask(input) {
        const source = byArn(input.SourceArn);
        const destination = input.DestinationArn
          ? byArn(input.DestinationArn)
          : [...queues.values()].find((q) => q.definition.redrive?.deadLetterQueue === source.definition.name);
        if (!destination) throw new AwsError('InvalidParameterValue', 'The source queue is not a dead-letter queue of any queue; give DestinationArn.');
        const task = { handle: randomUUID(), source: source.arn, destination: destination.arn, moved: 0, startedAt: now() };
        for (const message of [...source.messages.values()]) {
          moveMessage(source, destination, message);
          task.moved++;
        }
        moveTasks.push(task);
        wake();
        return { TaskHandle: task.handle };
      },
      ListMessageMoveTasks(input) {
        const source = byArn(input.SourceArn);
        return {
          Results: moveTasks
            .filter((t) => t.source === source.arn)
            .reverse()
            .map((t) => ({ TaskHandle: t.handle, Status: 'COMPLETED', SourceArn: t.source, DestinationArn: t.destination, ApproximateNumberOfMessagesMoved: t.moved, ApproximateNumberOfMessagesToMove: t.moved, StartedTimestamp: t.startedAt })),
        };
      },
    },
  });
  baseUrl = endpoint.url;
  return {
    ...endpoint,
    queueUrl: (name) => `${baseUrl}/${ACCOUNT}/${name}`,
    queueArn: (name) => queues.get(name)!.arn,
    depth: (name) => (queues.has(name) ? expired(queues.get(name)!).messages.size : 0),
    peek: (name) => (queues.has(name) ? [...expired(queues.get(name)!).messages.values()].map((m) => m.body) : []),
    metrics: (name) => {
      const t = now();
      const messages = queues.has(name) ? [...expired(queues.get(name)!).messages.values()] : [];
      const visible = messages.filter((m) => m.visibleAt <= t).length;
      const oldest = messages.reduce((min, m) => Math.min(min, m.sentAt), t);
      return { visible, notVisible: messages.length - visible, oldestAgeSeconds: Math.floor((t - oldest) / 1000) };
    },
  };
}

interface PendingCommit {
  readonly line: string;
  resolve(): void;
  reject(error: unknown): void;
}

/** Appends lines and fsyncs them. Synchronous, so journal lines are never interleaved. */
function durableWrite(queue: Queue, lines: string): void {
  if (!queue.journal) return;
  const fd = openSync(queue.journal, 'a');
  try {
    writeSync(fd, lines);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Appends a record and fsyncs it at once: for moves to and from the dead-letter queue (rare). */
function durableAppend(queue: Queue, record: Record<string, unknown>): void {
  durableWrite(queue, `${JSON.stringify(record)}\n`);
}

/** Appends without fsync: a lost receive or delete record only means a redelivery, which consumers tolerate. */
function append(queue: Queue, record: Record<string, unknown>): void {
  if (queue.journal) appendFileSync(queue.journal, `${JSON.stringify(record)}\n`);
}

/**
 * Rebuilds a queue from its journal, then compacts the journal to the live messages. A torn last
 * line (a crash mid-write) is ignored: its send was never acknowledged.
 */
function replay(journal: string): Map<string, Message> {
  const messages = new Map<string, Message>();
  if (existsSync(journal)) {
    for (const line of readFileSync(journal, 'utf8').split('\n')) {
      if (!line) continue;
      let record: { t: string; id: string; body?: string; at?: number; n?: number; v?: number };
      try {
        record = JSON.parse(line);
      } catch {
        continue;
      }
      if (record.t === 's' && record.body !== undefined) messages.set(record.id, { id: record.id, body: record.body, md5: md5(record.body), sentAt: record.at ?? 0, receiveCount: 0, visibleAt: 0 });
      else if (record.t === 'r' && messages.has(record.id)) Object.assign(messages.get(record.id)!, { receiveCount: record.n ?? 0, visibleAt: record.v ?? 0 });
      else if (record.t === 'd') messages.delete(record.id);
    }
  }
  const compacted = [...messages.values()].flatMap((m) => [
    JSON.stringify({ t: 's', id: m.id, body: m.body, at: m.sentAt }),
    ...(m.receiveCount > 0 ? [JSON.stringify({ t: 'r', id: m.id, n: m.receiveCount, v: m.visibleAt })] : []),
  ]);
  const temp = `${journal}.tmp`;
  writeFileSync(temp, compacted.length > 0 ? `${compacted.join('\n')}\n` : '');
  const fd = openSync(temp, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temp, journal);
  return messages;
}
