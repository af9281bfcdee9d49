/**
 * `makini-webhooks`: sign and send Makini webhooks from the command line.
 *
 *   makini-webhooks sign --secret S < body.json
 *   makini-webhooks send --url http://127.0.0.1:3000/webhooks --secret S --type all
 *   makini-webhooks poll
 *
 * Exit codes: 0 success, 1 a request failed, 2 usage error.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, ListMessageMoveTasksCommand, ReceiveMessageCommand, SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, InvalidRequestException, PutSecretValueCommand, ResourceExistsException, RestoreSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, configFromEnv, HMAC_ALGORITHMS, resolveConfig, SIGNATURE_SCHEMES, type MakiniWebhookConfig } from '../lambdas/config/config';
import { isKnownEventType, MAKINI_EVENT_TYPES, type MakiniEventType } from '../lambdas/core/event-types';
import { DynamoDbEventStore, type StoredWebhook } from '../lambdas/adapters/dynamodb-event-store';
import { EventBridgePublisher } from '../lambdas/adapters/eventbridge-publisher';
import { messageEventId, type BusMessage } from '../lambdas/core/consume';
import { decodeEnvelope } from '../lambdas/core/envelope';
import { normaliseEvent, POLL_EVENT_FIELDS, type EventFields, type MakiniEvent } from '../lambdas/core/event';
import { parseEventTime } from '../lambdas/core/event-time';
import { ACCESS_TOKEN_DAYS, formatConnectionSecret, parseConnectionSecret, REFRESH_TOKEN_DAYS, tokenFromResponse, type ConnectionToken } from '../lambdas/core/connection-secret';
import { SecretsManagerConnectionTokens } from '../lambdas/adapters/secrets-manager-connection-tokens';
import type { PollRunSummary } from '../lambdas/poller/poller';
import { canonicalJson } from '../lambdas/core/json-body';
import { createSignatureScheme } from '../lambdas/core/signature';
import { readBusLog } from '../local/aws/eventbridge';
import { NOTIFICATION_EVENTS, sampleEvent, sampleNotification } from '../local/sample-events';
import { simulate } from '../local/simulator';
import type { LocalStackInfo } from '../local/stack';

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

const SIGNING_OPTIONS = {
  secret: { type: 'string' },
  scheme: { type: 'string' },
  header: { type: 'string' },
  algorithm: { type: 'string' },
  lifecycle: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies Options;

const SECRET_HELP = `  --secret S         signing secret (or set MAKINI_WEBHOOK_SECRET, which keeps it out of shell history)
  --scheme NAME      ${SIGNATURE_SCHEMES.join(' | ')} (default: MAKINI_SIGNATURE_SCHEME or makini)
  --header NAME      makini scheme: signature header (default: the first of MAKINI_SIGNATURE_HEADERS, x-webhook-signature)
  --algorithm ALG    makini scheme: ${HMAC_ALGORITHMS.join(' | ')} (default: MAKINI_SIGNATURE_ALGORITHM or sha256)`;

const HELP = {
  main: `Usage: makini-webhooks <command> [options]

Commands:
  sign          sign a body and print the signature headers
  send          post realistic, signed sample webhooks to a receiver
  simulate      play a realistic Makini stream (duplicates, disorder, retries) and summarise it
  connections   add, list or remove the per-connection Makini API tokens the poller uses
  poll          run the poller now and print what it did
  dlq           list what is in the dead-letter queue and why, or redrive it
  replay        publish stored events to the bus again (state is not touched)
  health        a one-screen summary: queue, DLQ, connections, last webhook and poll, alarms
  status        connections and their state, from the running local stack
  events        processed events, newest first, from the running local stack
  bus           events the local stack published on its bus

Run 'makini-webhooks <command> --help' for a command's options.`,
  sign: `Usage: makini-webhooks sign [options] [--file F | < body]

Signs the body byte for byte and prints the headers to send, one 'name: value' per line. With the
makini scheme that is what Makini sends: X-Webhook-Signature, the base64 HMAC-SHA256 of the body.
(Makini signs JSON.stringify of the parsed body: pass --canonical to sign that form of F.)

Options:
${SECRET_HELP}
  --file F           read the body from F (default: standard input)
  --canonical        makini scheme: sign JSON.stringify(JSON.parse(body)) instead of the bytes given
  --encoding ENC     makini scheme: base64 | hex (default: base64)
  --prefix           makini scheme: write sha256= before the digest, as GitHub does
  --id ID            standard-webhooks: webhook-id (default: random msg_…)
  --timestamp UNIX   standard-webhooks: webhook-timestamp in Unix seconds (default: now)`,
  send: `Usage: makini-webhooks send --url URL [options]

Builds a webhook as Makini sends it, {"event": "assets.updated", "body": [ids]} signed with
X-Webhook-Signature (base64 HMAC-SHA256 of JSON.stringify of the body), and POSTs it; prints each
response's status and body. Exits 1 if any response is not 2xx.

For a per-connection URL, post to <url>/<connection>, e.g. http://127.0.0.1:3000/webhooks/conn_42.

Options:
  --url URL          the receiver's webhook URL (required)
${SECRET_HELP}
  --type T           <entity>.<action>, e.g. ${NOTIFICATION_EVENTS.slice(0, 3).join(', ')} … | all
                     (default: assets.updated)
  --ids A,B          ids of the changed records (default: two random UUIDs)
  --repeat N         send the same webhook N times, as Makini's retries would (default: 1)
  --id ID            standard-webhooks: webhook-id (default: random msg_…)
  --lifecycle        send a lifecycle event instead (id, type, timestamp, connection_id, data):
    --type T         ${MAKINI_EVENT_TYPES.join(' | ')} | all (default: sync.completed)
    --connection C   connection id (default: conn_demo)
    --id ID          event id (default: random evt_…); not with --type all
    --timestamp ISO  when the event happened (default: now)`,
  connections: `Usage: makini-webhooks connections add <id> [--token-file F | < token] [--refresh-token-file F] [--expires-at ISO]
       makini-webhooks connections list [--json]
       makini-webhooks connections remove <id> [--force]

Manages one Secrets Manager secret per connection, named <prefix><id>, holding
{"connectionId", "token", "refreshToken", "expiresAt", "refreshExpiresAt"}; the poller (per-connection
mode) discovers them by that prefix and refreshes a pair before its access token expires. Uses your AWS
credentials and region, or the endpoint in AWS_ENDPOINT_URL_SECRETS_MANAGER. Tokens are never printed.

add reads one of:
  - a bare access token (optionally with --refresh-token-file and --expires-at);
  - Makini's token answer, {"access_token", "refresh_token", "expires_in", …} as the dashboard or
    POST /link/token gives it (expires_in: epoch seconds or a duration; the refresh token is taken
    to expire ${REFRESH_TOKEN_DAYS} days from now);
  - the secret's own form, {"token", "refreshToken", "expiresAt", "refreshExpiresAt"}.
list shows per connection whether it has a refresh token and when its tokens expire.

Options:
  --prefix P                 secret name prefix (default: MAKINI_CONNECTION_SECRET_PREFIX or makini/connections/)
  --token-file F             add: read the token or token JSON from F (default: standard input)
  --refresh-token-file F     add, bare token: read the refresh token from F
  --expires-at ISO           add, bare token: when the access token expires (default with a refresh
                             token: ${ACCESS_TOKEN_DAYS} days from now; without one: unknown)
  --refresh-expires-at ISO   add, bare token: when the refresh token expires (default: ${REFRESH_TOKEN_DAYS} days from now)
  --json                     list: print a JSON array, one object per connection
  --force                    remove: delete at once, without Secrets Manager's 7-day recovery window`,
  simulate: `Usage: makini-webhooks simulate --url URL [options]

Plays a Makini stream: N connections x M events, some delivered twice, optionally shuffled, each
retried on any non-200 with Makini's backoff (30 s doubling, for 24 h) scaled by --time-scale.
The events are Makini's notifications, each connection's posted to <url>/<connection>; with
--lifecycle, sync and status events posted to <url>.
Prints: sent, acknowledged, retried, failed, and latency percentiles. Exits 1 if any failed.

Options:
  --url URL          the receiver's webhook URL (required)
${SECRET_HELP}
  --connections N    connections (default: 10)
  --events M         events per connection (default: 10)
  --duplicates P     share of deliveries sent twice, 0 to 1 (default: 0.1)
  --shuffle          deliver out of order
  --rate R           deliveries started per second (default: as fast as --concurrency allows)
  --concurrency C    requests in flight (default: 16)
  --time-scale S     multiplies Makini's retry delays (default: 0.001: 30 s becomes 30 ms)
  --seed N           the same seed plays the same stream (default: 1)
  --lifecycle        play lifecycle events instead of notifications
  --json             print the summary as JSON`,
  dlq: `Usage: makini-webhooks dlq list [--json] [--limit N] [--stack NAME | --local-dir D]
       makini-webhooks dlq redrive [--max N] [--stack NAME | --local-dir D]

list: the messages in the dead-letter queue, with their webhook, receive count and the last error
      processing recorded. (Looking counts as a receive, as in the SQS console.)
redrive: moves them back to the webhook queue with SQS's message-move task and prints its progress;
      --max limits the rate (messages per second).`,
  replay: `Usage: makini-webhooks replay <webhookId> [--stack NAME | --local-dir D]
       makini-webhooks replay --connection C --since ISO [--stack NAME | --local-dir D]

Publishes stored events to the bus again, with the connection's current state. State is not
re-applied and no transition is sent, so notifications do not fire twice.`,
  health: `Usage: makini-webhooks health [--json] [--stack NAME | --local-dir D]

Queue depth (and, on AWS, age), DLQ size, connections by status, the last webhook, the last poll, and
on AWS the stack's alarms in ALARM.`,
  status: `Usage: makini-webhooks status [--json] [--stack NAME | --local-dir D]

One row per connection: status, whether reauthorization is needed, last event, last webhook, last
sync and its outcome, last poll. Reads the local stack started by 'npm start' (state in D, default
.local or MAKINI_LOCAL_DIR), or with --stack a deployed stack (its EventTableName output, with your
AWS credentials and region).`,
  events: `Usage: makini-webhooks events [--connection C] [--limit N] [--json] [--stack NAME | --local-dir D]

Processed events, newest first by event time: webhookId, type, occurredAt, source, deliveries, stale,
connection, and for notifications the record ids (--json: the whole normalised event). An event
without a connection shows '-'.`,
  poll: `Usage: makini-webhooks poll [--json] [--stack NAME | --local-dir D]

Runs the poller now, as its schedule would, and prints its summary: the mode (system or
per-connection), connections found, polled, failed, events recovered, connections found deleted,
tokens refreshed and refresh failures, and connections deferred to the next run (time budget).
Reads the local stack started by 'npm start' (state in D, default .local or MAKINI_LOCAL_DIR), or
with --stack invokes a deployed stack's poller function (found through CloudFormation, with your AWS
credentials and region). Exits 1 if the run fails.

Options:
  --json             print the summary as JSON
  --stack NAME       a deployed stack (CloudFormation stack name)
  --local-dir D      the local stack's state directory`,
  bus: `Usage: makini-webhooks bus [--limit N] [--json] [--local-dir D]

The latest events the local stack put on its EventBridge bus (what your rules would receive).`,
} as const;

/** The streams the CLI talks through; tests pass their own. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'sign') return await sign(rest, io);
    if (command === 'send') return await send(rest, io);
    if (command === 'connections') return await connections(rest, io);
    if (command === 'simulate') return await simulateCommand(rest, io);
    if (command === 'poll') return await poll(rest, io);
    if (command === 'status' || command === 'events' || command === 'bus') return await inspect(command, rest, io);
    if (command === 'dlq' || command === 'replay' || command === 'health') return await operate(command, rest, io);
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      io.stdout.write(`${HELP.main}\n`);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command '${command}'`);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError || isParseArgsError(error)) {
      io.stderr.write(`makini-webhooks: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}

async function sign(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stdin: NodeJS.ReadableStream & { isTTY?: boolean } }): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { ...SIGNING_OPTIONS, file: { type: 'string' }, canonical: { type: 'boolean' }, encoding: { type: 'string' }, prefix: { type: 'boolean' }, id: { type: 'string' }, timestamp: { type: 'string' } },
    strict: true,
  });
  if (values.help) return help(io.stdout, 'sign');
  if (values.lifecycle) throw new UsageError('--lifecycle is an option of send and simulate');
  const config = signingConfig(values);
  if (values.encoding !== undefined && values.encoding !== 'hex' && values.encoding !== 'base64') throw new UsageError('--encoding must be hex or base64');
  if (values.timestamp !== undefined && !/^\d{1,12}$/.test(values.timestamp)) throw new UsageError('--timestamp must be Unix seconds');
  const raw = values.file !== undefined ? readFileSync(values.file) : await readStdin(io.stdin);
  const body = values.canonical ? canonicalJson(raw) : raw;
  if (!body) throw new UsageError('--canonical needs a JSON body');
  const headers = createSignatureScheme(config).sign(body, requireSecret(values.secret), {
    id: values.id,
    timestamp: values.timestamp === undefined ? undefined : Number(values.timestamp),
    encoding: values.encoding as 'hex' | 'base64' | undefined,
    prefix: values.prefix,
  });
  for (const [name, value] of Object.entries(headers)) io.stdout.write(`${name}: ${value}\n`);
  return 0;
}

async function send(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...SIGNING_OPTIONS,
      url: { type: 'string' },
      type: { type: 'string' },
      connection: { type: 'string' },
      id: { type: 'string' },
      timestamp: { type: 'string' },
      repeat: { type: 'string' },
      ids: { type: 'string' },
    },
    strict: true,
  });
  if (values.help) return help(io.stdout, 'send');
  if (!values.url) throw new UsageError('--url is required');
  const url = parseUrl(values.url);
  const config = signingConfig(values);
  const secret = requireSecret(values.secret);
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 10_000) throw new UsageError('--repeat must be a whole number from 1 to 10000');
  const scheme = createSignatureScheme(config);
  const webhooks: { label: string; id: string; body: Buffer }[] = [];
  if (values.lifecycle) {
    if (values.ids !== undefined) throw new UsageError('--ids is for notifications, not with --lifecycle');
    const types = eventTypes(values.type ?? 'sync.completed');
    if (values.id !== undefined && types.length > 1) throw new UsageError('--id cannot be combined with --type all: each event needs its own id');
    if (values.timestamp !== undefined && parseEventTime(values.timestamp) === undefined) throw new UsageError('--timestamp must be an ISO-8601 time');
    for (const type of types) {
      const event = sampleEvent(type, {
        id: values.id,
        connectionId: values.connection,
        timestamp: values.timestamp === undefined ? undefined : new Date(Date.parse(parseEventTime(values.timestamp)!)).toISOString(),
      });
      webhooks.push({ label: `${type} ${event.id}`, id: event.id, body: Buffer.from(JSON.stringify(event)) });
    }
  } else {
    for (const [flag, value] of Object.entries({ connection: values.connection, timestamp: values.timestamp, ...(config.signatureScheme === 'makini' && { id: values.id }) })) {
      if (value !== undefined) throw new UsageError(`--${flag} needs --lifecycle: Makini's notifications carry only an event name and ids${flag === 'connection' ? ' (post to <url>/<connection> instead)' : ''}`);
    }
    if (values.id !== undefined && values.type === 'all') throw new UsageError('--id cannot be combined with --type all: each webhook needs its own id');
    const names = values.type === 'all' ? [...NOTIFICATION_EVENTS] : [values.type ?? 'assets.updated'];
    if (!names.every((n) => /^[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z][A-Za-z0-9_-]*$/.test(n))) throw new UsageError('--type must be <entity>.<action>, e.g. assets.updated, or all');
    const ids = values.ids?.split(',').map((id) => id.trim()).filter((id) => id !== '');
    if (ids !== undefined && ids.length === 0) throw new UsageError('--ids must list at least one id');
    for (const name of names) {
      const notification = sampleNotification(name, ids);
      webhooks.push({ label: name, id: values.id ?? `msg_${randomUUID()}`, body: Buffer.from(JSON.stringify(notification)) });
    }
  }

  let failures = 0;
  for (const webhook of webhooks) {
    for (let attempt = 1; attempt <= repeat; attempt++) {
      // Signed anew for every delivery, as a sender does: same id and body, fresh timestamp.
      const headers = scheme.sign(webhook.body, secret, { id: webhook.id });
      const label = `${webhook.label}${repeat > 1 ? ` (${attempt}/${repeat})` : ''}`;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'makini-webhooks-cli', ...headers },
          body: webhook.body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await response.text();
        io.stdout.write(`${label} -> ${response.status} ${text}\n`);
        if (!response.ok) failures++;
      } catch (error) {
        io.stdout.write(`${label} -> request failed: ${(error as Error).cause ?? (error as Error).message}\n`);
        failures++;
      }
    }
  }
  return failures === 0 ? 0 : 1;
}

/** Signing settings: the MAKINI_* environment, overridden by flags, validated by the one config. */
function signingConfig(values: { scheme?: string; header?: string; algorithm?: string }): MakiniWebhookConfig {
  return resolveConfig({
    ...configFromEnv(process.env),
    ...(values.scheme !== undefined && { signatureScheme: values.scheme }),
    ...(values.header !== undefined && { signatureHeaders: values.header }),
    ...(values.algorithm !== undefined && { signatureAlgorithm: values.algorithm }),
  });
}

function requireSecret(flag: string | undefined): string {
  const secret = flag ?? process.env.MAKINI_WEBHOOK_SECRET;
  if (!secret) throw new UsageError('a signing secret is required: --secret S or MAKINI_WEBHOOK_SECRET');
  return secret;
}

function eventTypes(type: string): MakiniEventType[] {
  if (type === 'all') return [...MAKINI_EVENT_TYPES];
  if (isKnownEventType(type)) return [type];
  throw new UsageError(`--type must be one of ${MAKINI_EVENT_TYPES.join(', ')} or all`);
}

function parseUrl(text: string): URL {
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // fall through
  }
  throw new UsageError(`--url must be an http(s) URL, got '${text}'`);
}

async function connections(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stdin: NodeJS.ReadableStream & { isTTY?: boolean } }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      prefix: { type: 'string' },
      'token-file': { type: 'string' },
      'refresh-token-file': { type: 'string' },
      'expires-at': { type: 'string' },
      'refresh-expires-at': { type: 'string' },
      json: { type: 'boolean' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [action, id, ...extra] = positionals;
  if (values.help || action === undefined) return help(io.stdout, 'connections', action === undefined && !values.help ? 2 : 0);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (action !== 'add') {
    for (const flag of ['token-file', 'refresh-token-file', 'expires-at', 'refresh-expires-at'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} is an option of connections add`);
  }
  const prefix = resolveConfig({ ...configFromEnv(process.env), ...(values.prefix !== undefined && { connectionSecretPrefix: values.prefix }) }).connectionSecretPrefix;
  const client = new SecretsManagerClient({});
  try {
    if (action === 'list') {
      const { tokens, invalid } = await new SecretsManagerConnectionTokens(client, { prefix, cacheSeconds: 0 }).discover();
      const now = Date.now();
      const rows = [
        ...tokens.map((t) => ({ connectionId: t.secretName.slice(prefix.length), refreshToken: t.refreshToken !== undefined, expiresAt: t.expiresAt ?? null, refreshExpiresAt: t.refreshExpiresAt ?? null, problem: null as string | null })),
        ...invalid.map((i) => ({ connectionId: i.name.startsWith(prefix) ? i.name.slice(prefix.length) : i.name, refreshToken: null, expiresAt: null, refreshExpiresAt: null, problem: `unusable secret: ${i.reason}` })),
      ].sort((a, b) => (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0));
      if (values.json) {
        io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return 0;
      }
      const when = (at: string | null) => (at === null ? null : Date.parse(at) <= now ? `${at} (expired)` : at);
      const problems = rows.some((r) => r.problem !== null);
      io.stdout.write(
        table(
          rows.map((r) => ({
            connectionId: r.connectionId,
            refreshToken: r.refreshToken === null ? null : r.refreshToken ? 'yes' : 'no',
            accessExpiresAt: when(r.expiresAt),
            refreshExpiresAt: when(r.refreshExpiresAt),
            ...(problems && { problem: r.problem }),
          })),
        ),
      );
      return 0;
    }
    if (id === undefined) throw new UsageError(`connections ${action} needs a connection id`);
    if (!/^[A-Za-z0-9_+=.@-]{1,128}$/.test(id)) throw new UsageError('a connection id may hold letters, digits and _+=.@- (1 to 128 characters)');
    const name = `${prefix}${id}`;
    if (action === 'add') {
      const input = (values['token-file'] !== undefined ? readFileSync(values['token-file']) : await readStdin(io.stdin)).toString('utf8');
      const refreshInput = values['refresh-token-file'] === undefined ? undefined : readFileSync(values['refresh-token-file']).toString('utf8');
      const token = connectionToken(id, input, { refreshToken: refreshInput, expiresAt: values['expires-at'], refreshExpiresAt: values['refresh-expires-at'] }, Date.now());
      const SecretString = formatConnectionSecret(token);
      const details = [
        token.refreshToken ? 'with a refresh token' : token.expiresAt || token.refreshExpiresAt ? 'without a refresh token' : '',
        token.expiresAt ? `access token expires ${token.expiresAt}` : '',
        token.refreshExpiresAt ? `refresh token expires ${token.refreshExpiresAt}` : '',
      ].filter((d) => d !== '');
      const suffix = details.length > 0 ? `: ${details.join(', ')}` : '';
      try {
        await client.send(new CreateSecretCommand({ Name: name, SecretString, Description: `Makini API token of connection ${id}` }));
        io.stdout.write(`added ${id} (${name})${suffix}\n`);
      } catch (error) {
        // AWS answers InvalidRequestException for a name scheduled for deletion.
        if (!(error instanceof ResourceExistsException) && !(error instanceof InvalidRequestException)) throw error;
        // Removed earlier and still in its recovery window: restore it, then store the new value.
        const { DeletedDate } = await client.send(new DescribeSecretCommand({ SecretId: name }));
        if (DeletedDate) await client.send(new RestoreSecretCommand({ SecretId: name }));
        await client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
        io.stdout.write(`${DeletedDate ? 'restored and updated' : 'updated'} the token of ${id} (${name})${suffix}\n`);
      }
      return 0;
    }
    if (action === 'remove') {
      await client.send(new DeleteSecretCommand({ SecretId: name, ...(values.force ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: 7 }) }));
      io.stdout.write(values.force ? `removed ${id}\n` : `removed ${id}; Secrets Manager keeps it recoverable for 7 days\n`);
      return 0;
    }
    throw new UsageError(`unknown connections action '${action}': use add, list or remove`);
  } finally {
    client.destroy();
  }
}

const DAY_MS = 86_400_000;

/**
 * The token `connections add` stores, from its input: a bare access token (with the pair's other
 * half and expiries from flags), Makini's token answer, or our own secret form. No message here
 * ever quotes the input: it holds tokens.
 */
function connectionToken(id: string, input: string, flags: { refreshToken?: string; expiresAt?: string; refreshExpiresAt?: string }, now: number): ConnectionToken {
  const text = input.trim();
  if (text === '') throw new UsageError('the token is empty');
  const time = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const parsed = parseEventTime(value);
    if (parsed === undefined) throw new UsageError(`--${flag} must be an ISO-8601 time`);
    return new Date(Date.parse(parsed)).toISOString();
  };
  if (text.startsWith('{')) {
    for (const [flag, value] of [['refresh-token-file', flags.refreshToken], ['expires-at', flags.expiresAt], ['refresh-expires-at', flags.refreshExpiresAt]] as const) {
      if (value !== undefined) throw new UsageError(`--${flag} is for a bare token: the JSON given carries the pair and its expiry`);
    }
    let fields: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      fields = parsed as Record<string, unknown>;
    } catch {
      throw new UsageError('the token input starts with { but is not a JSON object');
    }
    if (fields.connectionId !== undefined && fields.connectionId !== id) throw new UsageError(`the JSON given is for another connection than ${id} (its connectionId differs)`);
    const result = fields.token === undefined && fields.access_token !== undefined ? tokenFromResponse(id, fields, now) : parseConnectionSecret(JSON.stringify({ ...fields, connectionId: id }), now);
    if (!result.ok) throw new UsageError(`the token JSON is not usable: ${result.reason} (give Makini's token answer {"access_token", "refresh_token", "expires_in"} or {"token", "refreshToken", "expiresAt", "refreshExpiresAt"})`);
    return result.value;
  }
  if (/\s/.test(text)) throw new UsageError('the token holds whitespace: give the token alone, or a JSON object');
  const refreshToken = flags.refreshToken?.trim();
  if (refreshToken === '') throw new UsageError('the refresh token is empty');
  if (refreshToken !== undefined && /\s/.test(refreshToken)) throw new UsageError('the refresh token holds whitespace: give the token alone');
  if (refreshToken === undefined && flags.refreshExpiresAt !== undefined) throw new UsageError('--refresh-expires-at needs --refresh-token-file');
  const expiresAt = time('expires-at', flags.expiresAt) ?? (refreshToken ? new Date(now + ACCESS_TOKEN_DAYS * DAY_MS).toISOString() : undefined);
  const refreshExpiresAt = refreshToken ? (time('refresh-expires-at', flags.refreshExpiresAt) ?? new Date(now + REFRESH_TOKEN_DAYS * DAY_MS).toISOString()) : undefined;
  return { connectionId: id, token: text, ...(refreshToken && { refreshToken }), ...(expiresAt && { expiresAt }), ...(refreshExpiresAt && { refreshExpiresAt }) };
}

async function simulateCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...SIGNING_OPTIONS,
      url: { type: 'string' },
      connections: { type: 'string' },
      events: { type: 'string' },
      duplicates: { type: 'string' },
      shuffle: { type: 'boolean' },
      rate: { type: 'string' },
      concurrency: { type: 'string' },
      'time-scale': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return help(io.stdout, 'simulate');
  if (!values.url) throw new UsageError('--url is required');
  const url = parseUrl(values.url).toString().replace(/\/$/, '');
  const number = (name: string, text: string | undefined, fallback: number, min: number, max: number, integer = true) => {
    const n = text === undefined ? fallback : Number(text);
    if (Number.isNaN(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`);
    return n;
  };
  const result = await simulate({
    url,
    format: values.lifecycle ? 'lifecycle' : 'makini',
    secret: requireSecret(values.secret),
    scheme: createSignatureScheme(signingConfig(values)),
    connections: number('connections', values.connections, 10, 1, 100_000),
    events: number('events', values.events, 10, 1, 100_000),
    duplicates: number('duplicates', values.duplicates, 0.1, 0, 1, false),
    shuffle: values.shuffle ?? false,
    rate: number('rate', values.rate, 0, 0, 100_000, false),
    concurrency: number('concurrency', values.concurrency, 16, 1, 1_000),
    timeScale: number('time-scale', values['time-scale'], 0.001, 0, 1, false),
    seed: number('seed', values.seed, 1, 0, 2 ** 31),
  });
  const pct = (p: number) => Math.round((result.latenciesMs[Math.min(result.latenciesMs.length - 1, Math.floor(result.latenciesMs.length * p))] ?? 0) * 10) / 10;
  const summary = { sent: result.sent, acknowledged: result.acknowledged, retried: result.retried, failed: result.failed, p50Ms: pct(0.5), p99Ms: pct(0.99) };
  io.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : `sent ${summary.sent}, acknowledged ${summary.acknowledged}, retried ${summary.retried}, failed ${summary.failed}; latency p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms\n`);
  return result.failed === 0 ? 0 : 1;
}

/** How long `poll` waits for a run: Lambda's longest timeout, and a little more. */
const POLL_WAIT_MS = 16 * 60_000;

/** `poll`: runs the poller now, on the local stack (its poll action) or a deployed stack (Lambda Invoke). */
async function poll(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { json: { type: 'boolean' }, stack: { type: 'string' }, 'local-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return help(io.stdout, 'poll');
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
  if (values.stack !== undefined && values['local-dir'] !== undefined) throw new UsageError('give --stack or --local-dir, not both');
  const fail = (line: string) => {
    io.stderr.write(`makini-webhooks: ${line}\n`);
    return 1;
  };
  const print = (summary: PollRunSummary, where: string) => {
    io.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : describePollRun(summary, where));
    return 0;
  };

  if (values.stack !== undefined) {
    const functionName = await pollerFunction(values.stack);
    // The run may take the function's whole timeout (up to 15 minutes): wait that long, no longer.
    const lambda = new LambdaClient({ requestHandler: { requestTimeout: POLL_WAIT_MS } });
    try {
      const response = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: new TextEncoder().encode('{}') }));
      const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
      let payload: unknown;
      try {
        payload = text === '' ? undefined : JSON.parse(text);
      } catch {
        payload = undefined;
      }
      if (response.FunctionError) {
        const error = (payload ?? {}) as { errorType?: unknown; errorMessage?: unknown };
        const message = typeof error.errorMessage === 'string' ? error.errorMessage.split('\n')[0] : `${response.FunctionError} error`;
        return fail(`poll run of ${functionName} failed: ${typeof error.errorType === 'string' ? `${error.errorType}: ` : ''}${message}`);
      }
      if (!isPollSummary(payload)) return fail(`poll run of ${functionName} answered no run summary: is it the poller of ${values.stack}?`);
      return print(payload, `${values.stack} (${functionName})`);
    } finally {
      lambda.destroy();
    }
  }

  const dir = values['local-dir'] ?? process.env.MAKINI_LOCAL_DIR ?? '.local';
  if (!existsSync(path.join(dir, 'stack.json'))) return fail(`no local stack in ${dir}/: start one with 'npm start' (or pass --local-dir, or --stack NAME for a deployed stack)`);
  const info = localStack(dir);
  if (!info.pollUrl) return fail(`the local stack in ${dir}/ predates 'poll': restart it with 'npm start'`);
  let response: Response;
  try {
    response = await fetch(info.pollUrl, { method: 'POST', headers: { 'user-agent': 'makini-webhooks-cli' }, signal: AbortSignal.timeout(POLL_WAIT_MS) });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') return fail(`the local stack in ${dir}/ is not running (nothing answers at ${new URL(info.pollUrl).origin}): start it with 'npm start'`);
    return fail(`could not reach the local stack at ${info.pollUrl}: ${cause?.code ?? (error as Error).message}`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    return fail(`poll run failed: ${typeof message === 'string' ? message.split('\n')[0] : `HTTP ${response.status}`}`);
  }
  if (!isPollSummary(body)) return fail(`the local stack answered no run summary (HTTP ${response.status})`);
  return print(body, `the local stack (${dir}/)`);
}

function isPollSummary(value: unknown): value is PollRunSummary {
  return typeof value === 'object' && value !== null && typeof (value as { mode?: unknown }).mode === 'string' && typeof (value as { polled?: unknown }).polled === 'number';
}

function describePollRun(summary: PollRunSummary, where: string): string {
  const n = (value: number | undefined) => value ?? 0;
  return [
    `poll run on ${where}, ${summary.mode} mode`,
    `  connections       ${n(summary.connections)} (${n(summary.due)} due)`,
    `  polled            ${n(summary.polled)}`,
    `  failed            ${n(summary.failed)}${summary.unauthorized ? ` (${summary.unauthorized} unauthorized)` : ''}`,
    `  recovered         ${n(summary.recovered)} missed event(s)`,
    `  deleted           ${n(summary.deleted)}`,
    `  tokens refreshed  ${n(summary.tokensRefreshed)}`,
    `  refresh failed    ${n(summary.tokenRefreshFailed)}${summary.tokensExpiring ? ` (${summary.tokensExpiring} refresh token(s) expiring soon)` : ''}`,
    `  deferred          ${n(summary.deferred)}${summary.deferred ? ' (time budget spent: polled first next run)' : ''}`,
    '',
  ].join('\n');
}

/**
 * The deployed poller's function name: the stack's PollerFunctionName output if it has one, else
 * the AWS::Lambda::Function whose logical id is the construct's `Poller` (`…Poller` and CDK's 8-hex
 * hash, e.g. WebhooksPoller7CBF9AEA), not its log group, role or the log-retention helper.
 */
async function pollerFunction(stackName: string): Promise<string> {
  const outputs = await stackOutputs(stackName);
  if (outputs.PollerFunctionName) return outputs.PollerFunctionName;
  const cloudformation = new CloudFormationClient({});
  const functions: { logicalId: string; physicalId: string }[] = [];
  try {
    let NextToken: string | undefined;
    do {
      const page = await cloudformation.send(new ListStackResourcesCommand({ StackName: stackName, NextToken }));
      for (const r of page.StackResourceSummaries ?? []) {
        if (r.ResourceType === 'AWS::Lambda::Function' && r.LogicalResourceId && r.PhysicalResourceId) functions.push({ logicalId: r.LogicalResourceId, physicalId: r.PhysicalResourceId });
      }
      NextToken = page.NextToken;
    } while (NextToken);
  } finally {
    cloudformation.destroy();
  }
  const pollers = functions.filter((f) => /Poller[0-9A-F]{8}$/.test(f.logicalId));
  // Several: keep those beside a receiver of the same construct (a function of yours may be a "Poller" too).
  const ours = pollers.length > 1 ? pollers.filter((p) => functions.some((f) => f.logicalId.startsWith(`${p.logicalId.replace(/Poller[0-9A-F]{8}$/, '')}Receiver`))) : pollers;
  if (ours.length === 1) return ours[0].physicalId;
  if (ours.length === 0) throw new UsageError(`stack ${stackName} has no poller function: is it a makini-webhook-ingestion stack?`);
  throw new UsageError(`stack ${stackName} holds several poller functions (${ours.map((p) => p.logicalId).join(', ')}); give it a PollerFunctionName output`);
}

/** Where the operations act: the running local stack, or a deployed stack found by its outputs. */
interface Target {
  readonly name: string;
  readonly tableName: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly eventBusName: string;
  /** SDK settings per service: the local endpoints, or your AWS credentials and region. */
  readonly client: (service: 'dynamodb' | 'sqs' | 'eventBridge') => { endpoint?: string; region?: string; credentials?: { accessKeyId: string; secretAccessKey: string } };
  readonly aws: boolean;
}

async function resolveTarget(values: { stack?: string; 'local-dir'?: string }): Promise<Target> {
  if (values.stack !== undefined && values['local-dir'] !== undefined) throw new UsageError('give --stack or --local-dir, not both');
  if (values.stack === undefined) {
    const info = localStack(values['local-dir']);
    const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    return {
      name: 'local stack',
      tableName: info.tableName,
      queueUrl: info.queueUrl,
      deadLetterQueueUrl: info.deadLetterQueueUrl,
      eventBusName: info.eventBusName,
      client: (service) => ({ ...local, endpoint: info.endpoints[service] }),
      aws: false,
    };
  }
  const outputs = await stackOutputs(values.stack);
  const need = (key: string) => {
    if (!outputs[key]) throw new UsageError(`stack ${values.stack} has no ${key} output: is it a makini-webhook-ingestion stack?`);
    return outputs[key];
  };
  return { name: values.stack, tableName: need('EventTableName'), queueUrl: need('QueueUrl'), deadLetterQueueUrl: need('DeadLetterQueueUrl'), eventBusName: need('EventBusName'), client: () => ({}), aws: true };
}

async function stackOutputs(stackName: string): Promise<Record<string, string>> {
  const cloudformation = new CloudFormationClient({});
  try {
    const { Stacks = [] } = await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    return Object.fromEntries((Stacks[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } finally {
    cloudformation.destroy();
  }
}

function storeFor(target: Target): { store: DynamoDbEventStore; close(): void } {
  const client = new DynamoDBClient(target.client('dynamodb'));
  return { store: new DynamoDbEventStore(DynamoDBDocumentClient.from(client), { tableName: target.tableName, retentionSeconds: 0, leaseMs: 0 }), close: () => client.destroy() };
}

/** `dlq`, `replay` and `health`: what an on-call engineer does, locally or on AWS. */
async function operate(command: 'dlq' | 'replay' | 'health', argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      json: { type: 'boolean' },
      limit: { type: 'string' },
      max: { type: 'string' },
      connection: { type: 'string' },
      since: { type: 'string' },
      stack: { type: 'string' },
      'local-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return help(io.stdout, command);
  const target = await resolveTarget(values);
  const out = (text: string) => io.stdout.write(text);

  if (command === 'dlq') {
    const [action, ...extra] = positionals;
    if (extra.length > 0 || (action !== 'list' && action !== 'redrive')) throw new UsageError('use dlq list or dlq redrive');
    const sqs = new SQSClient(target.client('sqs'));
    try {
      if (action === 'list') {
        const limit = values.limit === undefined ? 50 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be a whole number from 1 to 1000');
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
        }
        const rows = [...seen.values()];
        out(values.json ? `${JSON.stringify(rows, null, 2)}\n` : table(rows));
        return 0;
      }
      const rate = values.max === undefined ? undefined : Number(values.max);
      if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 500)) throw new UsageError('--max must be a whole number of messages per second, 1 to 500');
      const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: target.deadLetterQueueUrl, AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages'] }));
      const sourceArn = Attributes.QueueArn;
      out(`redriving ${Attributes.ApproximateNumberOfMessages ?? '?'} message(s) from the dead-letter queue of ${target.name}\n`);
      const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, ...(rate && { MaxNumberOfMessagesPerSecond: rate }) }));
      for (;;) {
        const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }));
        const task = Results.find((t) => t.TaskHandle === TaskHandle) ?? Results[0];
        out(`  ${task?.Status ?? 'UNKNOWN'}: ${task?.ApproximateNumberOfMessagesMoved ?? 0} of ${task?.ApproximateNumberOfMessagesToMove ?? '?'} moved\n`);
        if (!task || task.Status === 'COMPLETED') return 0;
        if (task.Status === 'FAILED' || task.Status === 'CANCELLED') {
          out(`  ${task.FailureReason ?? ''}\n`);
          return 1;
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    } finally {
      sqs.destroy();
    }
  }

  if (command === 'replay') {
    const [webhookId, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    if ((webhookId === undefined) === (values.connection === undefined)) throw new UsageError('replay takes a webhook id, or --connection C --since ISO');
    if (values.connection !== undefined && (values.since === undefined || parseEventTime(values.since) === undefined)) throw new UsageError('--since must be an ISO-8601 time');
    const { store, close } = storeFor(target);
    const bus = new EventBridgeClient(target.client('eventBridge'));
    try {
      const since = values.since === undefined ? undefined : parseEventTime(values.since);
      const stored = webhookId !== undefined ? [await store.getWebhook(webhookId)].filter((w) => w !== undefined) : (await store.listEvents(values.connection!, 10_000)).filter((w) => (w.occurredAt ?? '') >= since!).reverse();
      if (webhookId !== undefined && stored.length === 0) throw new UsageError(`no stored webhook ${webhookId}`);
      const messages: BusMessage[] = [];
      for (const w of stored) {
        if (w.status !== 'DONE' || w.unprocessableReason !== undefined) continue; // unprocessable or unfinished: nothing was published for it
        const event = storedEvent(w, configFromEnv(process.env));
        if (!event) continue;
        const state = event.connectionId === undefined ? undefined : ((await store.getConnection(event.connectionId)) ?? { connectionId: event.connectionId, status: 'unknown' as const });
        messages.push({ event, ...(state && { state }), stale: w.stale ?? false });
      }
      const accepted = await new EventBridgePublisher(bus, target.eventBusName).publish(messages);
      const failed = accepted.filter((a) => !a).length;
      out(`replayed ${messages.length - failed} event(s) to ${target.eventBusName}${failed ? `; ${failed} rejected by the bus` : ''}\n`);
      return failed === 0 ? 0 : 1;
    } finally {
      close();
      bus.destroy();
    }
  }

  // health
  const sqs = new SQSClient(target.client('sqs'));
  const { store, close } = storeFor(target);
  try {
    const attrs = async (url: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
    const [queue, dlq, connections] = await Promise.all([attrs(target.queueUrl), attrs(target.deadLetterQueueUrl), store.listConnections()]);
    const byStatus: Record<string, number> = {};
    for (const c of connections) byStatus[c.state?.status ?? 'unknown'] = (byStatus[c.state?.status ?? 'unknown'] ?? 0) + 1;
    const latest = (values: (string | undefined)[]) => values.filter((v): v is string => !!v).sort().at(-1) ?? null;
    const summary: Record<string, unknown> = {
      target: target.name,
      queue: { visible: Number(queue.ApproximateNumberOfMessages ?? 0), inFlight: Number(queue.ApproximateNumberOfMessagesNotVisible ?? 0), oldestAgeSeconds: target.aws ? await queueAge(target.queueUrl) : null },
      deadLetterQueue: Number(dlq.ApproximateNumberOfMessages ?? 0) + Number(dlq.ApproximateNumberOfMessagesNotVisible ?? 0),
      connections: { total: connections.length, ...byStatus },
      lastWebhookAt: latest(connections.map((c) => c.state?.lastWebhookAt)),
      lastPolledAt: latest(connections.map((c) => c.poll?.lastPolledAt)),
      alarmsInAlarm: target.aws ? await alarmsInAlarm(target.name) : null,
    };
    if (values.json) out(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      const q = summary.queue as { visible: number; inFlight: number; oldestAgeSeconds: number | null };
      out(
        [
          `health of ${target.name}`,
          `  queue           ${q.visible} waiting, ${q.inFlight} in flight${q.oldestAgeSeconds === null ? '' : `, oldest ${q.oldestAgeSeconds} s`}`,
          `  dead letters    ${summary.deadLetterQueue}`,
          `  connections     ${connections.length} (${Object.entries(byStatus).map(([s, n]) => `${n} ${s}`).join(', ') || 'none'})`,
          `  last webhook    ${summary.lastWebhookAt ?? '-'}`,
          `  last poll       ${summary.lastPolledAt ?? '-'}`,
          `  alarms          ${summary.alarmsInAlarm === null ? '(AWS only)' : (summary.alarmsInAlarm as string[]).length === 0 ? 'none in ALARM' : (summary.alarmsInAlarm as string[]).join(', ')}`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    sqs.destroy();
    close();
  }
}

/** The queue's ApproximateAgeOfOldestMessage over the last 5 minutes (a CloudWatch metric, not a queue attribute). */
async function queueAge(queueUrl: string): Promise<number | null> {
  const cloudwatch = new CloudWatchClient({});
  try {
    const now = Date.now();
    const { Datapoints = [] } = await cloudwatch.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: queueUrl.slice(queueUrl.lastIndexOf('/') + 1) }], StartTime: new Date(now - 600_000), EndTime: new Date(now), Period: 300, Statistics: ['Maximum'] }),
    );
    const latest = Datapoints.sort((a, b) => (b.Timestamp?.getTime() ?? 0) - (a.Timestamp?.getTime() ?? 0))[0];
    return latest?.Maximum ?? null;
  } finally {
    cloudwatch.destroy();
  }
}

/** The stack's alarms in ALARM: CloudFormation names them after the stack. */
async function alarmsInAlarm(stackName: string): Promise<string[]> {
  const cloudwatch = new CloudWatchClient({});
  try {
    const { MetricAlarms = [] } = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: stackName, StateValue: 'ALARM' }));
    return MetricAlarms.map((a) => a.AlarmName ?? '?');
  } finally {
    cloudwatch.destroy();
  }
}

/** `status`, `events` and `bus`: read-only views of the running local stack. */
async function inspect(command: 'status' | 'events' | 'bus', argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { json: { type: 'boolean' }, connection: { type: 'string' }, limit: { type: 'string' }, 'local-dir': { type: 'string' }, stack: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) return help(io.stdout, command);
  if (command === 'status' && (values.connection !== undefined || values.limit !== undefined)) throw new UsageError('status takes only --json, --stack and --local-dir');
  if (command === 'bus' && values.stack !== undefined) throw new UsageError('bus reads the local stack\'s log; on AWS, attach a rule to the EventBusName output (see README)');
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000');
  const print = (rows: Record<string, unknown>[]) => io.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : table(rows));

  if (command === 'bus') {
    print(
      readBusLog(localStack(values['local-dir']).busLog)
        .slice(-limit)
        .reverse()
        .map((e) => {
          const detail = e.detail as { event?: { webhookId?: string; connectionId?: string }; state?: { status?: string }; transition?: { to?: string } };
          return values.json ? { ...e } : { time: e.time, detailType: e['detail-type'], webhookId: detail.event?.webhookId, connectionId: detail.event?.connectionId, status: detail.state?.status, transition: detail.transition?.to ?? '' };
        }),
    );
    return 0;
  }
  const { store, close } = storeFor(await resolveTarget(values));
  try {
    if (command === 'status') {
      print(
        (await store.listConnections()).map(({ connectionId, state, poll }) => ({
          connectionId,
          status: state?.status ?? 'unknown',
          needsReauthorization: state?.status === 'reauthorization_required' || poll?.lastOutcome === 'unauthorized',
          lastEventAt: state?.lastEventAt ?? null,
          lastWebhookAt: state?.lastWebhookAt ?? null,
          lastSyncAt: state?.lastSyncAt ?? null,
          lastSyncStatus: state?.lastSyncStatus ?? null,
          lastPolledAt: poll?.lastPolledAt ?? null,
        })),
      );
      return 0;
    }
    const stored = values.connection !== undefined ? await store.listEvents(values.connection, limit) : await store.listAllEvents(limit);
    const fields = configFromEnv(process.env);
    print(
      stored.map((w) => {
        const event = storedEvent(w, fields);
        const row = { webhookId: w.webhookId, type: w.type, occurredAt: w.occurredAt, source: w.source, deliveries: w.deliveries, stale: w.stale ?? false, connectionId: w.connectionId };
        if (values.json) return { ...row, ...(event && { event }) };
        return { ...row, ids: event?.ids ? abbreviate(event.ids) : undefined };
      }),
    );
    return 0;
  } finally {
    close();
  }
}

/**
 * The normalised event of a stored webhook, as the consumer saw it: its body read with `fields`
 * (the poller's own for poll events) and the connection the consumer recorded.
 */
function storedEvent(w: StoredWebhook, fields: EventFields): MakiniEvent | undefined {
  const normalised = normaliseEvent(
    w.body,
    { webhookId: w.webhookId, receivedAt: w.receivedAt, source: w.source === 'poll' ? 'poll' : 'webhook', ...(w.connectionId !== undefined && { connectionId: w.connectionId }) },
    w.source === 'poll' ? POLL_EVENT_FIELDS : fields,
  );
  return normalised.ok ? normalised.event : undefined;
}

/** A list of ids for a table cell: the first two and how many more. */
function abbreviate(ids: readonly string[]): string {
  return ids.length <= 2 ? ids.join(',') : `${ids.slice(0, 2).join(',')},… (${ids.length})`;
}

/** The running local stack, from the stack.json that `npm start` writes. */
function localStack(dir = process.env.MAKINI_LOCAL_DIR ?? '.local'): LocalStackInfo {
  const file = path.join(dir, 'stack.json');
  if (!existsSync(file)) throw new UsageError(`no local stack in ${dir}/ (start one with 'npm start', or pass --local-dir)`);
  return JSON.parse(readFileSync(file, 'utf8')) as LocalStackInfo;
}

/** A plain text table; null and undefined print as '-'. */
function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)\n';
  const columns = Object.keys(rows[0]);
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return `${[line(columns), ...cells.map(line)].join('\n')}\n`;
}

function help(out: NodeJS.WritableStream, command: keyof typeof HELP, code = 0): number {
  out.write(`${HELP[command]}\n`);
  return code;
}

async function readStdin(stdin: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<Buffer> {
  if (stdin.isTTY) throw new UsageError('pipe the body on standard input, or pass --file F');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && String((error as { code: unknown }).code).startsWith('ERR_PARSE_ARGS');
}

/** Runs the CLI as a process: `tsx bin/cli.ts …` or the `makini-webhooks` launcher. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`makini-webhooks: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run();
