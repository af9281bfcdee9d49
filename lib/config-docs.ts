/**
 * The text of the README's configuration reference, one line per setting of {@link MakiniWebhookConfig}.
 *
 * Kept apart from lambdas/config/config.ts because every Lambda bundles that file and none needs this text
 * (about 7 KB of each bundle). A unit test keeps the README's table in step with it.
 */
import { CONFIG_KEYS, CONFIG_SPEC, envName, type MakiniWebhookConfig } from '../lambdas/config/config';

export const CONFIG_DOCS: { readonly [K in keyof MakiniWebhookConfig]: string } = {
  signatureScheme: 'How webhooks are signed: `makini` (HMAC of the raw body in one header) or `standard-webhooks`.',
  signatureHeaders: '`makini` scheme: headers that may carry the signature, in order of precedence (case-insensitive). Makini documents `X-Webhook-Signature`.',
  signedBytes: '`makini` scheme: the bytes the signature is checked over. `both` tries the raw body, then `JSON.stringify(JSON.parse(body))`, which is what Makini\'s documented verifier signs; when only the latter matches, those bytes are what is stored and forwarded.',
  signatureAlgorithm: '`makini` scheme: HMAC algorithm.',
  timestampToleranceSeconds: '`standard-webhooks`: largest accepted age (or future skew) of `webhook-timestamp`.',
  allowedSourceIps: 'Optional source allowlist, checked against API Gateway\'s own view of the caller\'s address: IPv4/IPv6 addresses and CIDR ranges, and `makini` for the five production addresses in Makini\'s `docs/ip_whitelisting.md`. Others get `403 FORBIDDEN_SOURCE`. Off by default: Makini does not say webhooks come from those addresses.',
  eventIdFields: 'Body fields that carry a webhook\'s own id, used as its dedup key. A webhook without one (Makini\'s notifications have none) is deduplicated by content within `contentDedupWindowMinutes`.',
  eventTypeFields: 'Body fields that carry the event type; the first string found wins. Makini\'s notifications use `event`.',
  eventTimeFields: 'Body fields that carry the event time: ISO 8601, or epoch seconds or milliseconds. Without one, the receive time is used (`timeSource: "received"`).',
  eventConnectionFields: 'Body fields that carry the connection id. A per-connection URL (`/webhooks/{connection}`) wins; without either, the event changes no connection state.',
  contentDedupWindowMinutes: 'A byte-identical copy of a webhook without an id counts as a retry (one more delivery of the first) only when received within this many minutes of the first copy; later, it is a new event (two genuine updates of one record have identical bodies).',
  maxBodyBytes: 'Largest accepted body; larger requests get 413. Bodies above 200,000 bytes, and those above 33,333 that would pass that on the bus (a notification\'s numeric ids travel as strings; `1e20` is written out), are stored in the body bucket and travel as a pointer. Assumption: API Gateway may hand the body to the receiver base64-encoded, so the maximum keeps 4/3 of it plus headers within Lambda\'s 6 MiB invoke limit; the default leaves more room.',
  secretCacheSeconds: 'How long the receiver caches the signing secret in memory.',
  secretRefreshIntervalSeconds: 'On a signature mismatch the secret is re-fetched, at most once per this interval, so a rotated secret works without a redeploy.',
  signingSecret: 'Use an existing Secrets Manager secret (name or full ARN) instead of creating one.',
  receiverTimeoutSeconds: 'Receiver Lambda timeout; must leave room under Makini\'s 10 s deadline, and fit every attempt of its AWS calls (three when `maxBodyBytes` exceeds 33,333: the S3 put of a body that may go through the body bucket). A second Secrets Manager read, for a rotated secret, gets only the time the writes after it leave; none, or not enough: 503.',
  receiverMemoryMB: 'Receiver Lambda memory (more memory also means more CPU).',
  awsRequestTimeoutMs: 'Per-attempt timeout of the receiver\'s AWS SDK calls (Secrets Manager, SQS).',
  awsMaxAttempts: 'Attempts, first try included, of each receiver AWS SDK call.',
  throttleRateLimit: 'API Gateway stage rate limit (requests/s). Throttled requests get 429 and Makini retries them.',
  throttleBurstLimit: 'API Gateway stage burst limit (requests).',
  maxReceiveCount: 'Deliveries of a message before SQS moves it to the dead-letter queue.',
  consumerTimeoutSeconds: 'Consumer Lambda timeout; the queue\'s visibility timeout is 6x this.',
  consumerMemoryMB: 'Consumer Lambda memory.',
  consumerBatchSize: 'Messages per consumer invocation; above 10 needs `consumerBatchingWindowSeconds` of at least 1.',
  consumerBatchingWindowSeconds: 'Seconds SQS may wait to fill a consumer batch (fewer, larger invocations).',
  dedupWindowDays: 'Days a webhook id is remembered for deduplication; must outlast Makini\'s 24 h of retries.',
  historyRetentionDays: 'Days processed events stay in the history (DynamoDB TTL). Webhook items live the longer of this and `dedupWindowDays`.',
  eventArchiveRetentionDays: 'Days the event bus archive keeps events for replay; 0 keeps them forever.',
  secretsKmsKey: 'ARN of the customer-managed KMS key the signing, credentials or token secrets are encrypted with; the receiver and poller get `kms:Decrypt` (and the poller `kms:GenerateDataKey`) through Secrets Manager only. Empty: the AWS-managed key. Tokens kept in the table (`tokenStore=table`) are sealed under the stack\'s own key instead.',
  connectionSecretPrefix: 'Per-connection mode: name prefix of the token secrets (one secret per connection): where `tokenStore=secrets-manager` keeps them, and where `table` copies them from.',
  tokenCacheSeconds: 'How long the poller caches the secrets it reads (system credentials, connection tokens) across invocations; a 401 drops them at once, and a cached list with a pair due for a refresh, or refused with a 401, is read again before the pair is refreshed (another container may have refreshed it).',
  tokenStore: 'Per-connection mode: where the tokens live. `table`: items of the event table, each pair sealed (AES-256-GCM) under a data key of the stack\'s own KMS key (the alarm topics\' key, whatever `secretsKmsKey` is), about $0.0003 a connection a month; pairs still in Secrets Manager under `connectionSecretPrefix` are copied in by the first run. `secrets-manager`: one secret per connection, $0.40 a connection a month.',
  pollMode: '`system`: Makini client credentials list every connection; `per-connection`: one stored token pair per connection (`tokenStore`); `auto`: system when `systemCredentialsSecret` exists.',
  systemCredentialsSecret: 'Secret holding Makini client credentials `{"client_id", "client_secret"}` (system mode).',
  makiniApiUrl: 'Makini API base URL (Makini documents no version in the path).',
  makiniApiVersion: 'Sent as a `Makini-Version` header when set; empty sends none (Makini documents none).',
  makiniPageSize: '`per_page` of Makini list calls (`GET /api/system/connections`).',
  connectionTokenSeconds: 'System mode: lifetime asked for the connection token issued for each poll.',
  connectionStatusMap: 'Makini connection `status` values and their meaning, `value=online\\|offline\\|reauthorization_required`; other values are kept verbatim and change no state.',
  tokenRefreshMarginDays: 'Per-connection mode: refresh an access token (and write the new pair back) when it expires within this many days.',
  refreshTokenWarningDays: 'Per-connection mode: a `connection.token_expiring` event, sent to the alarm topic, when a refresh token expires within this many days.',
  makiniRequestTimeoutMs: 'Per-request timeout of Makini API calls.',
  makiniMaxAttempts: 'Attempts per Makini API call; 429 (honouring Retry-After), 5xx and timeouts are retried with jittered backoff.',
  pollIntervalMinutes: 'Minutes between poller runs (EventBridge schedule).',
  pollExpectedWindowMinutes: 'A connection without a webhook for this long is polled (as are unhealthy and never-seen ones).',
  pollAll: 'Poll every connection on every run.',
  pollConcurrency: 'Connections polled at the same time (per invocation, see pollShardConcurrency).',
  pollShardSize: 'System mode: a run with more due connections than this lists and selects them, then hands them in shards of this many to worker invocations of the poller (through the poll shard queue), each polling its shard under its own time budget.',
  pollShardConcurrency: 'System mode: worker invocations polling shards at the same time; Makini sees up to pollShardConcurrency x pollConcurrency polls in flight (its rate limits are not documented: an assumption, docs/makini-wire-format.md).',
  pollerTimeoutSeconds: 'Poller Lambda timeout (unset: 180, or the poll interval if shorter); a run stops starting polls early enough for the slowest poll in flight to finish (110 s before it by default: three Makini calls, each with every attempt timing out).',
  pollerMemoryMB: 'Poller Lambda memory.',
  breakerFailureThreshold: 'Consecutive failed polls that open a connection\'s circuit breaker.',
  breakerCooldownMinutes: 'Minutes an open breaker skips its connection before one half-open probe.',
  alarmEmail: 'Email address subscribed to the alarm topic (it must confirm the subscription); empty for none.',
  queueAgeAlarmMinutes: 'Alarm when the oldest queued webhook is older than this.',
  signatureRejectedAlarmThreshold: 'Alarm when more signatures than this are rejected in 5 minutes (a rotated secret, or an attack).',
  pollFailedAlarmPeriods: 'Alarm when polls fail in this many consecutive 5-minute periods.',
  silenceAlarmHours: 'Alarm when no webhook arrives for this many hours (missing data counts as silence); 0 turns it off.',
  dashboard: 'Create the CloudWatch dashboard (`DashboardUrl` output). Off by default: a dashboard costs $3 a month beyond an account\'s first three (docs/cost.md), and the alarms reach the alarm topic (and `alarmEmail`) without it.',
  reauthNotificationTemplate: 'Text of the reauthorization notification; `{connectionId}` and `{detectedAt}` are filled in.',
  logRetentionDays: 'Retention of the API access logs and Lambda logs (a CloudWatch Logs retention value).',
  logLevel: 'Log level of the Lambdas. At `INFO` a webhook that goes well writes no line of its own (those are `DEBUG`); failures keep their full context at `WARN` and `ERROR`.',
  platformLogLevel: "Level of Lambda's own lines (the function logs are JSON). `WARN` drops the `START`/`END`/`REPORT` lines of every invocation (330 bytes each, more than the rest of a webhook's logs: docs/cost.md); `INFO` keeps them, with each invocation's memory use.",
  metricsNamespace: 'CloudWatch namespace of the EMF metrics.',
  tracing: 'X-Ray active tracing on the Lambdas. Off by default: at low volume it would double the cost per webhook (docs/cost.md); logs and metrics carry the webhook id end to end.',
};

/** The README's configuration reference table, generated from the spec and {@link CONFIG_DOCS}. */
export function configReferenceTable(): string {
  const rows = CONFIG_KEYS.map((key) => {
    const spec = CONFIG_SPEC[key];
    const shown = Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default);
    const fallback = shown === '' ? '(none)' : `\`${shown}\``;
    return `| \`${key}\` | \`${envName(key)}\` | ${fallback} | ${allowed(spec)} | ${CONFIG_DOCS[key]} |`;
  });
  return ['| key | environment variable | default | allowed | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

function allowed(spec: (typeof CONFIG_SPEC)[keyof MakiniWebhookConfig]): string {
  switch (spec.kind) {
    case 'int':
      return spec.oneOf ? 'CloudWatch retention value' : `${spec.min}–${spec.max}`;
    case 'enum':
      return spec.values.join(' \\| ');
    case 'string':
      return spec.hint;
    case 'bool':
      return 'true \\| false';
    case 'list':
      return `${spec.hint}, comma-separated`;
  }
}
