/** `makini-webhooks dlq list | redrive`: what is in the dead-letter queue and why, and moving it back. */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, GetQueueAttributesCommand, ListMessageMoveTasksCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { messageEventId } from '../../../lambdas/core/consume';
import { decodeEnvelope } from '../../../lambdas/core/envelope';
import { progressBar } from '../progress';
import { addJsonOption, addProgressOption, addTargetOptions, json, noExtraArguments, resolveTarget, storeFor, subcommand, table, UsageError, wholeNumber, type CommandContext, type Target, type TargetOptions } from '../shared';

/** How often `dlq redrive` asks SQS how the move task is doing. */
const REDRIVE_POLL_MS = 2000;

export function register(program: Command, { io, exit }: CommandContext): void {
  const group = subcommand(program, 'dlq', 'list what is in the dead-letter queue and why, or redrive it')
    .usage('list [--json] [--limit N] [--stack NAME | --local-dir D]\n       makini-webhooks dlq redrive [--max N] [--json] [--stack NAME | --local-dir D]')
    .description(
      [
        'list: the messages in the dead-letter queue, with their webhook, receive count and the last error processing recorded. (Looking counts as a receive, as in the SQS console.)',
        "redrive: moves them back to the webhook queue with SQS's message-move task and prints its progress; --max limits the rate (messages per second).",
      ].join('\n'),
    )
    .action((_values: unknown, cmd: Command) => {
      if (cmd.args.length === 0) {
        io.stdout.write(cmd.helpInformation());
        exit(2);
        return;
      }
      throw new UsageError('use dlq list or dlq redrive');
    });

  addTargetOptions(
    addJsonOption(
      subcommand(group, 'list', 'the messages in the dead-letter queue: webhook, type, connection, receive count, last error').option('--limit <N>', 'at most N messages, 1 to 1000 (default: 50)'),
      'print a JSON array, one object per message',
    ),
  ).action(async (values: TargetOptions & { json?: boolean; limit?: string }, cmd: Command) => {
    noExtraArguments(cmd.args);
    const target = await resolveTarget(values);
    const limit = wholeNumber('limit', values.limit, 50, 1, 1000);
    const rows = await listDeadLetters(target, limit);
    io.stdout.write(values.json ? json(rows) : table(rows));
    exit(0);
  });

  addProgressOption(
    addTargetOptions(
      addJsonOption(
        subcommand(group, 'redrive', 'move the dead letters back to the webhook queue, printing the move task progress').option('--max <N>', 'at most N messages per second, 1 to 500 (default: as fast as SQS moves them)'),
        'print only the outcome, as one JSON object: {target, status, moved, toMove, failureReason}',
      ),
    ),
  ).action(async (values: TargetOptions & { json?: boolean; max?: string; progress: boolean }, cmd: Command) => {
    noExtraArguments(cmd.args);
    const target = await resolveTarget(values);
    const rate = values.max === undefined ? undefined : Number(values.max);
    if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 500)) throw new UsageError('--max must be a whole number of messages per second, 1 to 500');
    exit(await redrive(target, rate, values, io));
  });
}

/** The dead letters with their webhook and last error (`dlq list`, the console's DLQ view). Looking counts as a receive. */
export async function listDeadLetters(target: Target, limit: number): Promise<Record<string, unknown>[]> {
  const sqs = new SQSClient(target.client('sqs'));
  const seen = new Map<string, Record<string, unknown>>();
  const { store, close } = storeFor(target);
  try {
    for (let round = 0; round < 20 && seen.size < limit; round++) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: target.deadLetterQueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] }));
      const fresh = Messages.filter((m) => !seen.has(m.MessageId ?? ''));
      if (fresh.length === 0) break;
      for (const m of fresh.slice(0, limit - seen.size)) {
        let envelope: { webhookId?: string; receivedAt?: string } = {};
        try {
          envelope = decodeEnvelope(m.Body ?? '').envelope;
        } catch {
          // not an envelope: shown with its raw id only
        }
        // A copy deduplicated by content is stored under the id of the event it belongs to.
        const webhookId = envelope.webhookId && (await messageEventId({ deliveryId: m.MessageId ?? '', body: m.Body ?? '' }, store));
        const stored = webhookId ? await store.getWebhook(webhookId) : undefined;
        seen.set(m.MessageId ?? '', {
          messageId: m.MessageId,
          webhookId: webhookId || null,
          type: stored?.type ?? null,
          connectionId: stored?.connectionId ?? null,
          receivedAt: envelope.receivedAt ?? null,
          receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
          sentAt: m.Attributes?.SentTimestamp ? new Date(Number(m.Attributes.SentTimestamp)).toISOString() : null,
          lastError: stored?.lastError ?? null,
        });
      }
    }
  } finally {
    close();
    sqs.destroy();
  }
  return [...seen.values()];
}

/**
 * How long a selection redrive hides the dead letters it receives: far longer than sending a copy
 * and deleting take. A message visible again may be received by someone else (the console's DLQ
 * view looks every 5 s), and then the receipt held here is stale: deleting with it succeeds and
 * deletes nothing. (Others are made visible again at the end; only a crash leaves them hidden this long.)
 */
const REDRIVE_VISIBILITY_SECONDS = 60;

/**
 * Moves the named dead letters (by SQS message id) back to the webhook queue: each is sent to the
 * queue, then deleted from the DLQ, as the message-move task does for all of them. The copy is
 * sent before the delete, so a failure in between duplicates a message (the consumer
 * deduplicates it) rather than losing it. Answers the ids moved: sent, and deleted with the
 * message's latest receipt. A message whose receipt went stale is received again and deleted then
 * (its copy is not sent twice); one that is not received again is not reported moved.
 */
export async function redriveMessages(target: Target, messageIds: readonly string[], options: { visibilitySeconds?: number } = {}): Promise<string[]> {
  const visibility = options.visibilitySeconds ?? REDRIVE_VISIBILITY_SECONDS;
  const wanted = new Set(messageIds);
  const sent = new Set<string>();
  const moved = new Set<string>();
  const sqs = new SQSClient(target.client('sqs'));
  /** Those not wanted, by id, with their latest receipt: only looked at. */
  const others = new Map<string, string>();
  try {
    for (let round = 0; round < 50 && moved.size < wanted.size; round++) {
      // Hidden while the redrive runs, so the next receive sees other messages.
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: target.deadLetterQueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: visibility, MessageAttributeNames: ['All'] }));
      const pending = (id: string) => wanted.has(id) && !moved.has(id);
      // Nothing left to move, nor anything not seen yet: what is wanted and not received is not there.
      if (!Messages.some((m) => pending(m.MessageId ?? '') || !others.has(m.MessageId ?? ''))) {
        for (const m of Messages) others.set(m.MessageId ?? '', m.ReceiptHandle ?? '');
        break;
      }
      for (const m of Messages) {
        const id = m.MessageId ?? '';
        if (!pending(id)) {
          others.set(id, m.ReceiptHandle ?? '');
          continue;
        }
        if (!sent.has(id)) {
          await sqs.send(new SendMessageCommand({ QueueUrl: target.queueUrl, MessageBody: m.Body ?? '', ...(m.MessageAttributes && Object.keys(m.MessageAttributes).length > 0 && { MessageAttributes: m.MessageAttributes }) }));
          sent.add(id);
        }
        // Visibility changes only for the latest receipt of a message still hidden, and keeps it
        // hidden: the delete right after it is sure to act. Refused, the receipt is stale: the
        // message is received again in a later round.
        if (!(await changeVisibility(sqs, target.deadLetterQueueUrl, m.ReceiptHandle ?? '', visibility))) continue;
        await sqs.send(new DeleteMessageCommand({ QueueUrl: target.deadLetterQueueUrl, ReceiptHandle: m.ReceiptHandle }));
        moved.add(id);
      }
    }
    // The others were only looked at: visible again at once (a stale one is visible already).
    for (const handle of others.values()) await changeVisibility(sqs, target.deadLetterQueueUrl, handle, 0);
  } finally {
    sqs.destroy();
  }
  return [...moved];
}

/** Sets a received message's visibility; false when the receipt is stale (the message was visible again, or received since). */
async function changeVisibility(sqs: SQSClient, queueUrl: string, receiptHandle: string, seconds: number): Promise<boolean> {
  try {
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
    return true;
  } catch (error) {
    // AWS answers InvalidParameterValue ("Message does not exist or is not available for visibility timeout change").
    if (['MessageNotInflight', 'ReceiptHandleIsInvalid', 'InvalidParameterValue'].includes((error as Error).name)) return false;
    throw error;
  }
}

export async function redrive(target: Target, rate: number | undefined, values: { json?: boolean; progress: boolean }, io: CommandContext['io']): Promise<number> {
  const sqs = new SQSClient(target.client('sqs'));
  const bar = progressBar(io, 'redrive', { enabled: values.progress });
  // Without --json: one line per look at the task, as before; the bar (on a terminal) keeps clear of them.
  const say = (text: string) => {
    if (!values.json) bar.print(text);
  };
  try {
    const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: target.deadLetterQueueUrl, AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages'] }));
    const sourceArn = Attributes.QueueArn;
    say(`redriving ${Attributes.ApproximateNumberOfMessages ?? '?'} message(s) from the dead-letter queue of ${target.name}\n`);
    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, ...(rate && { MaxNumberOfMessagesPerSecond: rate }) }));
    for (;;) {
      const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }));
      const task = Results.find((t) => t.TaskHandle === TaskHandle) ?? Results[0];
      const moved = task?.ApproximateNumberOfMessagesMoved ?? 0;
      const toMove = task?.ApproximateNumberOfMessagesToMove;
      bar.update(moved, toMove, task?.Status ?? 'UNKNOWN');
      say(`  ${task?.Status ?? 'UNKNOWN'}: ${moved} of ${toMove ?? '?'} moved\n`);
      const finished = !task || task.Status === 'COMPLETED' || task.Status === 'FAILED' || task.Status === 'CANCELLED';
      if (finished) {
        const failed = task?.Status === 'FAILED' || task?.Status === 'CANCELLED';
        bar.finish();
        if (failed) say(`  ${task?.FailureReason ?? ''}\n`);
        if (values.json) io.stdout.write(json({ target: target.name, status: task?.Status ?? 'UNKNOWN', moved, toMove: toMove ?? null, failureReason: task?.FailureReason ?? null }));
        return failed ? 1 : 0;
      }
      await new Promise((r) => setTimeout(r, REDRIVE_POLL_MS));
    }
  } finally {
    bar.finish();
    sqs.destroy();
  }
}
