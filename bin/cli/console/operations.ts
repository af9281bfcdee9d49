/**
 * What the web console shows and does, on the local stack or a deployed one: each operation is the
 * CLI's own (events, status, dlq, replay, health, send), through the same adapters, answering plain
 * JSON-ready objects. No HTTP here (see ./server.ts).
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { configFromEnv } from '../../../lambdas/config/config';
import { breakerState } from '../../../lambdas/core/poll';
import { parseEventTime } from '../../../lambdas/core/event-time';
import { createSignatureScheme } from '../../../lambdas/core/signature';
import { parseSigningSecrets } from '../../../lambdas/core/signing-secrets';
import type { DynamoDbEventStore, StoredWebhook } from '../../../lambdas/adapters/dynamodb-event-store';
import { readBusLog } from '../../../local/aws/eventbridge';
import type { LocalStackInfo } from '../../../local/stack';
import { listDeadLetters, redrive, redriveMessages } from '../commands/dlq';
import { alarmsInAlarm, localAlarmStates, queueAge } from '../commands/health';
import { replayEvents } from '../commands/replay';
import { notificationWebhook, postSigned } from '../commands/send';
import { localDir, localStack, stackOutputs, storedEvent, storeFor, tokenStoresFor, UsageError, type Target, type TargetOptions } from '../shared';

/** Where a test webhook goes and what signs it: the local stack's URL and secret file, or a stack's outputs. */
interface Sender {
  readonly webhookUrl: string;
  secret(): Promise<string>;
}

export interface ConsoleOperations {
  readonly info: { target: string; aws: boolean; webhookUrl: string };
  events(filter: EventFilter): Promise<EventRow[]>;
  event(webhookId: string): Promise<EventDetail | undefined>;
  connections(): Promise<Record<string, unknown>[]>;
  deadLetters(): Promise<Record<string, unknown>[]>;
  redrive(selection: { messageIds: readonly string[] } | { all: true }): Promise<{ moved: number; status: string }>;
  replay(selection: { connection: string; since: string; until?: string }): Promise<{ replayed: number; rejected: number; bodyMissing: number }>;
  health(): Promise<Record<string, unknown>>;
  sendTest(request: { type?: string; ids?: string; connection?: string }): Promise<{ status: number; body: unknown; url: string }>;
}

export interface EventFilter {
  readonly connection?: string;
  readonly type?: string;
  readonly since?: string;
  readonly until?: string;
  readonly limit?: number;
}

export interface EventRow {
  webhookId: string;
  type: string | null;
  occurredAt: string | null;
  receivedAt: string;
  source: string | null;
  connectionId: string | null;
  deliveries: number;
  outcome: string;
  ids: string[] | null;
}

export interface EventDetail extends EventRow {
  body: string;
  stale: boolean;
  unprocessableReason: string | null;
  lastError: string | null;
  event: unknown;
  /** What the event put on the bus: the local stack's log; null on AWS (attach a rule to see it). */
  bus: unknown[] | null;
}

/** The operations on `--stack NAME` or the local stack (`--local-dir`, MAKINI_LOCAL_DIR or .local). */
export async function consoleOperations(values: TargetOptions, target: Target): Promise<ConsoleOperations> {
  const config = configFromEnv(process.env);
  let local: LocalStackInfo | undefined;
  let sender: Sender;
  if (target.aws) {
    const outputs = await stackOutputs(values.stack!);
    sender = {
      webhookUrl: outputs.WebhookUrl ?? '',
      secret: async () => {
        if (!outputs.SigningSecretArn) throw new UsageError(`stack ${target.name} has no SigningSecretArn output`);
        const client = new SecretsManagerClient({});
        try {
          const { SecretString = '' } = await client.send(new GetSecretValueCommand({ SecretId: outputs.SigningSecretArn }));
          return parseSigningSecrets(SecretString)[0];
        } finally {
          client.destroy();
        }
      },
    };
  } else {
    local = localStack(localDir(values.localDir));
    const info = local;
    sender = { webhookUrl: info.webhookUrl, secret: async () => process.env.MAKINI_WEBHOOK_SECRET ?? readFileSync(info.secretFile, 'utf8').trim() };
  }

  const outcome = (w: { status: string; unprocessableReason?: string; lastError?: string; stale?: boolean }) =>
    w.unprocessableReason !== undefined ? 'unprocessable' : w.status === 'DONE' ? (w.stale ? 'done (stale)' : 'done') : w.lastError ? 'failing' : 'processing';

  const withStore = async <T>(fn: (store: DynamoDbEventStore, withBodies: ReturnType<typeof storeFor>['withBodies']) => Promise<T>): Promise<T> => {
    const { store, withBodies, close } = storeFor(target);
    try {
      return await fn(store, withBodies);
    } finally {
      close();
    }
  };

  const row = (w: StoredWebhook): EventRow & { event: unknown } => {
    const event = storedEvent(w, config);
    return {
      webhookId: w.webhookId,
      type: w.type ?? null,
      occurredAt: w.occurredAt ?? null,
      receivedAt: w.receivedAt,
      source: w.source ?? null,
      connectionId: w.connectionId ?? null,
      deliveries: w.deliveries,
      outcome: outcome(w),
      ids: event?.ids ? [...event.ids] : null,
      event: event ?? null,
    };
  };

  return {
    info: { target: target.name, aws: target.aws, webhookUrl: sender.webhookUrl },

    async events(filter) {
      const since = time('since', filter.since);
      const until = time('until', filter.until);
      const limit = filter.limit ?? 200;
      const matches = (w: StoredWebhook) => (!filter.type || w.type === filter.type) && (since === undefined || (w.occurredAt ?? '') >= since) && (until === undefined || (w.occurredAt ?? '') <= until);
      // Filtered before the limit: the newest `limit` of all could hold none of an older match. Only
      // a connection's own index query may stop at the limit, and only when nothing else filters.
      const narrowed = Boolean(filter.type) || since !== undefined || until !== undefined;
      const stored = await withStore((store) => (filter.connection ? store.listEvents(filter.connection, narrowed ? Number.POSITIVE_INFINITY : limit) : store.listAllEvents(Number.POSITIVE_INFINITY)));
      return stored
        .filter(matches)
        .slice(0, limit)
        .map((w) => {
          const { event: _event, ...rest } = row(w);
          return rest;
        });
    },

    async event(webhookId) {
      // A body in the body bucket is read back, so the event view shows it like any other.
      const w = await withStore(async (store, withBodies) => {
        const found = await store.getWebhook(webhookId);
        return found && (await withBodies([found]))[0];
      });
      if (!w) return undefined;
      const bus = local ? readBusLog(local.busLog).filter((e) => (e.detail as { event?: { webhookId?: string } })?.event?.webhookId === webhookId) : null;
      return { ...row(w), body: Buffer.from(w.body).toString('utf8'), stale: w.stale ?? false, unprocessableReason: w.unprocessableReason ?? null, lastError: w.lastError ?? null, bus };
    },

    async connections() {
      const candidates = await withStore((store) => store.listConnections());
      // Token expiry: the per-connection tokens (per-connection mode), wherever the target keeps them; none in system mode.
      const expiry = new Map<string, string | null>();
      try {
        const stores = tokenStoresFor(target, { tokenStore: target.tokenStore, connectionSecretPrefix: config.connectionSecretPrefix });
        try {
          const { tokens } = await stores.tokens.discover();
          for (const t of tokens) expiry.set(t.connectionId, t.expiresAt ?? null);
        } finally {
          stores.close();
        }
      } catch {
        // No tokens to read (or no permission): the column shows '-'.
      }
      const settings = { pollAll: false, expectedWindowMs: 0, breakerFailureThreshold: config.breakerFailureThreshold, breakerCooldownMs: config.breakerCooldownMinutes * 60_000 };
      const now = Date.now();
      return candidates.map(({ connectionId, state, poll }) => ({
        connectionId,
        status: state?.status ?? 'unknown',
        lastWebhookAt: state?.lastWebhookAt ?? null,
        lastPolledAt: poll?.lastPolledAt ?? null,
        lastPollOutcome: poll?.lastOutcome ?? null,
        syncStatus: state?.lastSyncStatus ?? poll?.reportedSyncStatus ?? null,
        lastSyncAt: state?.lastSyncAt ?? null,
        tokenExpiresAt: expiry.get(connectionId) ?? null,
        breaker: breakerState(poll, now, settings),
        deleted: poll?.deletedAt !== undefined,
        deletedAt: poll?.deletedAt ?? null,
      }));
    },

    deadLetters: () => listDeadLetters(target, 100),

    async redrive(selection) {
      if ('messageIds' in selection) {
        // A message named twice is moved once: counted once, or the outcome would read PARTIAL.
        const messageIds = [...new Set(selection.messageIds)];
        if (messageIds.length === 0) throw new UsageError('select at least one message');
        const moved = await redriveMessages(target, messageIds);
        return { moved: moved.length, status: moved.length === messageIds.length ? 'COMPLETED' : 'PARTIAL' };
      }
      // All: the CLI's `dlq redrive --json`, SQS's message-move task; its one JSON line is the outcome.
      let out = '';
      const sink = new Writable({ write: (chunk, _encoding, done) => ((out += String(chunk)), done()) });
      const code = await redrive(target, undefined, { json: true, progress: false }, { stdout: sink, stderr: new Writable({ write: (_c, _e, done) => done() }), stdin: process.stdin });
      const result = JSON.parse(out) as { status: string; moved: number; failureReason: string | null };
      if (code !== 0) throw new Error(`redrive ${result.status}: ${result.failureReason ?? 'no reason given'}`);
      return { moved: result.moved, status: result.status };
    },

    async replay(selection) {
      const since = time('since', selection.since);
      if (!selection.connection || since === undefined) throw new UsageError('replay needs a connection and a start time');
      return replayEvents(target, { connection: selection.connection, since, ...(selection.until && { until: time('until', selection.until) }) });
    },

    async health() {
      const sqs = new SQSClient(target.client('sqs'));
      try {
        const attrs = async (url: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
        const [queue, dlq] = await Promise.all([attrs(target.queueUrl), attrs(target.deadLetterQueueUrl)]);
        return {
          target: target.name,
          queue: { visible: Number(queue.ApproximateNumberOfMessages ?? 0), inFlight: Number(queue.ApproximateNumberOfMessagesNotVisible ?? 0), oldestAgeSeconds: target.aws ? await queueAge(target.queueUrl) : null },
          deadLetterQueue: { visible: Number(dlq.ApproximateNumberOfMessages ?? 0), inFlight: Number(dlq.ApproximateNumberOfMessagesNotVisible ?? 0) },
          alarms: target.aws
            ? (await alarmsInAlarm(target.name)).map((alarmName) => ({ alarmName, state: 'ALARM', reason: null, since: null }))
            : (localAlarmStates(target.localAlarmsFile) ?? []).filter((a) => a.state === 'ALARM').map((a) => ({ alarmName: a.alarmName, state: a.state, reason: a.reason, since: new Date(a.since).toISOString() })),
        };
      } finally {
        sqs.destroy();
      }
    },

    async sendTest(request) {
      if (!sender.webhookUrl) throw new UsageError('the stack has no WebhookUrl output');
      const connection = request.connection?.trim();
      // Not '.' or '..': a URL would resolve them out of the webhook path, signed with the stack's secret.
      if (connection && (!/^[A-Za-z0-9_.-]{1,128}$/.test(connection) || /^\.+$/.test(connection))) throw new UsageError('the connection id may hold letters, digits, _ . - (up to 128), and is not only dots');
      const url = new URL(connection ? `${sender.webhookUrl.replace(/\/$/, '')}/${connection}` : sender.webhookUrl);
      const webhook = notificationWebhook(request.type?.trim() || 'assets.updated', request.ids?.trim() || undefined);
      const { response, text } = await postSigned(url, webhook, createSignatureScheme(config), await sender.secret());
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: shown as text
      }
      return { status: response.status, body, url: url.toString() };
    },
  };
}

/** An ISO-8601 time from a filter, normalised as the store keeps them; undefined when not given. */
function time(name: string, text: string | undefined): string | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const parsed = parseEventTime(text.trim());
  if (parsed === undefined) throw new UsageError(`${name} must be an ISO-8601 time`);
  return parsed;
}
