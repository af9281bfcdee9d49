/** `makini-webhooks send`: post realistic, signed sample webhooks to a receiver. */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { MAKINI_EVENT_TYPES } from '../../../lambdas/core/event-types';
import { isEntityEventType } from '../../../lambdas/core/event';
import { parseEventTime } from '../../../lambdas/core/event-time';
import { createSignatureScheme, type SignatureScheme } from '../../../lambdas/core/signature';
import { NOTIFICATION_EVENTS, sampleEvent, sampleNotification } from '../../../local/sample-events';
import { addSigningOptions, eventTypes, json, noExtraArguments, parseUrl, requireSecret, signingConfig, subcommand, UsageError, type CommandContext, type SigningOptions } from '../shared';

interface SendOptions extends SigningOptions {
  url: string;
  type?: string;
  ids?: string;
  repeat?: string;
  id?: string;
  lifecycle?: boolean;
  connection?: string;
  timestamp?: string;
  json?: boolean;
}

export function register(program: Command, { io, exit }: CommandContext): void {
  const command = subcommand(program, 'send', 'post realistic, signed sample webhooks to a receiver')
    .usage('--url URL [options]')
    .description(
      [
        'Builds a webhook as Makini sends it, {"event": "assets.updated", "body": [ids]} signed with X-Webhook-Signature (base64 HMAC-SHA256 of JSON.stringify of the body), and POSTs it; prints each response\'s status and body. Exits 1 if any response is not 2xx.',
        'For a per-connection URL, post to <url>/<connection>, e.g. http://127.0.0.1:3000/webhooks/conn_42.',
      ].join('\n\n'),
    )
    // Commander refuses a missing --url itself (exit 2), and the generated synopsis shows it as required.
    .requiredOption('--url <URL>', "the receiver's webhook URL");
  addSigningOptions(command)
    .option('--type <T>', `<entity>.<action>, e.g. ${NOTIFICATION_EVENTS.slice(0, 3).join(', ')} … | all (default: assets.updated); with --lifecycle: ${MAKINI_EVENT_TYPES.join(' | ')} | all (default: sync.completed)`)
    .option('--ids <A,B>', 'ids of the changed records (default: two random UUIDs)')
    .option('--repeat <N>', "send the same webhook N times, as Makini's retries would (default: 1)")
    .option('--id <ID>', 'standard-webhooks: webhook-id (default: random msg_…); with --lifecycle: the event id (default: random evt_…), not with --type all')
    .option('--lifecycle', 'send a lifecycle event instead (id, type, timestamp, connection_id, data)')
    .option('--connection <C>', 'with --lifecycle: connection id (default: conn_demo)')
    .option('--timestamp <ISO>', 'with --lifecycle: when the event happened (default: now)')
    .option('--json', 'print the responses as a JSON array ({webhook, attempt, status, body} or {webhook, attempt, error})')
    .action(async (values: SendOptions, cmd: Command) => {
      noExtraArguments(cmd.args, { secret: true });
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
        for (const name of names) webhooks.push(notificationWebhook(name, values.ids, values.id));
      }

      let failures = 0;
      const results: Record<string, unknown>[] = [];
      for (const webhook of webhooks) {
        for (let attempt = 1; attempt <= repeat; attempt++) {
          // Signed anew for every delivery, as a sender does: same id and body, fresh timestamp.
          const label = `${webhook.label}${repeat > 1 ? ` (${attempt}/${repeat})` : ''}`;
          try {
            const { response, text } = await postSigned(url, webhook, scheme, secret);
            if (values.json) results.push({ webhook: webhook.label, attempt, status: response.status, body: parseBody(text) });
            else io.stdout.write(`${label} -> ${response.status} ${text}\n`);
            if (!response.ok) failures++;
          } catch (error) {
            const reason = String((error as Error).cause ?? (error as Error).message);
            if (values.json) results.push({ webhook: webhook.label, attempt, error: reason });
            else io.stdout.write(`${label} -> request failed: ${reason}\n`);
            failures++;
          }
        }
      }
      if (values.json) io.stdout.write(json(results));
      exit(failures === 0 ? 0 : 1);
    });
}

/**
 * A Makini notification as Makini sends it, {"event": name, "body": ids}: `ids` is a comma
 * separated list (default: two random UUIDs). Used by `send` and the console's test webhook.
 */
export function notificationWebhook(name: string, ids: string | undefined, id?: string): { label: string; id: string; body: Buffer } {
  if (!isEntityEventType(name)) throw new UsageError('--type must be <entity>.<action> (each part at most 64 characters), e.g. assets.updated, or all');
  const list = ids?.split(',').map((i) => i.trim()).filter((i) => i !== '');
  if (list !== undefined && list.length === 0) throw new UsageError('--ids must list at least one id');
  return { label: name, id: id ?? `msg_${randomUUID()}`, body: Buffer.from(JSON.stringify(sampleNotification(name, list))) };
}

/** POSTs one webhook, signed anew (same id and body, fresh timestamp) as a sender does for every delivery. */
export async function postSigned(url: URL, webhook: { id: string; body: Buffer }, scheme: SignatureScheme, secret: string): Promise<{ response: Response; text: string }> {
  const headers = scheme.sign(webhook.body, secret, { id: webhook.id });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'makini-webhooks-cli', ...headers },
    body: webhook.body,
    signal: AbortSignal.timeout(15_000),
  });
  return { response, text: await response.text() };
}

/** A response body for --json: parsed when it is JSON, else the text. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
