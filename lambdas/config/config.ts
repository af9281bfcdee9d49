/**
 * The one typed configuration of makini-webhook-ingestion.
 *
 * The CDK stack, the Lambda handlers and the local stack all resolve their settings here, so a
 * default or a bound is written exactly once. This file must stay free of imports other than Node
 * built-ins: it is bundled into every Lambda.
 *
 * Sources, each validated by {@link resolveConfig}:
 * - CDK context: `cdk deploy -c signatureScheme=standard-webhooks` (see {@link configFromContext})
 * - environment: `MAKINI_SIGNATURE_SCHEME=standard-webhooks` (see {@link configFromEnv})
 * - code: `new MakiniWebhookIngestion(this, 'Webhooks', { config: { maxBodyBytes: 65536 } })`
 */

import { isIP } from 'node:net';

export const SIGNATURE_SCHEMES = ['makini', 'standard-webhooks'] as const;
export type SignatureSchemeName = (typeof SIGNATURE_SCHEMES)[number];

export const HMAC_ALGORITHMS = ['sha256', 'sha512'] as const;
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number];

/**
 * Which bytes a `makini` signature is checked over: the raw body, the bytes of
 * `JSON.stringify(JSON.parse(body))` (what Makini's documented verifier computes), or both, raw first.
 */
export const SIGNED_BYTES = ['raw', 'canonical-json', 'both'] as const;
export type SignedBytes = (typeof SIGNED_BYTES)[number];

/**
 * Makini's production addresses, from `docs/ip_whitelisting.md` in eqcentric/api-docs (added
 * 2025-05-16). The page does not say that webhooks come from them, so the allowlist is off by
 * default; `allowedSourceIps=makini` turns this list on.
 */
export const MAKINI_SOURCE_IPS = ['15.204.75.108', '15.204.73.75', '15.204.77.147', '148.113.140.236', '51.79.101.4'] as const;

/** How the poller finds connections: Makini's client credentials, one token secret per connection, or system when configured. */
export const POLL_MODES = ['auto', 'system', 'per-connection'] as const;
export type PollMode = (typeof POLL_MODES)[number];

/**
 * Where per-connection tokens are kept: KMS-sealed items of the event table (no charge per
 * connection beyond the item), or one Secrets Manager secret each ($0.40 a month each).
 */
export const TOKEN_STORES = ['table', 'secrets-manager'] as const;
export type TokenStore = (typeof TOKEN_STORES)[number];

/**
 * Makini's connection `status` values are not enumerated in its docs (docs/makini-wire-format.md):
 * these are the readings we assume; anything else is kept verbatim and changes no state.
 */
export const DEFAULT_CONNECTION_STATUS_MAP: readonly string[] = [
  'active=online',
  'connected=online',
  'online=online',
  'ok=online',
  'inactive=offline',
  'disconnected=offline',
  'offline=offline',
  'paused=offline',
  'disabled=offline',
  'error=offline',
  'reauthorization_required=reauthorization_required',
  'reauth_required=reauthorization_required',
  'unauthorized=reauthorization_required',
  'expired=reauthorization_required',
  'invalid_credentials=reauthorization_required',
];

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Lambda's system log levels (its platform lines), as its advanced logging controls name them. */
export const PLATFORM_LOG_LEVELS = ['DEBUG', 'INFO', 'WARN'] as const;
export type PlatformLogLevel = (typeof PLATFORM_LOG_LEVELS)[number];

/** SQS's largest message (1 MiB). The queue is created with exactly this limit. */
export const SQS_MAX_MESSAGE_BYTES = 1_048_576;
/**
 * How long the webhook queue keeps a message (7 days); its dead-letter queue keeps them 14, SQS's
 * longest, because a moved message keeps its first enqueue time.
 */
export const QUEUE_RETENTION_SECONDS = 7 * 86_400;
export const DLQ_RETENTION_SECONDS = 14 * 86_400;
/** Room reserved in each SQS message for the envelope's metadata around the body. */
export const ENVELOPE_OVERHEAD_BYTES = 4_096;
/** A DynamoDB item holds at most 400 KB; the history item keeps the raw body plus ~10 KB of fields. */
export const MAX_STORABLE_BODY_BYTES = Math.min(390_000, Math.floor(((SQS_MAX_MESSAGE_BYTES - ENVELOPE_OVERHEAD_BYTES) * 3) / 4));
/**
 * Largest body that travels inline; a larger one is stored in the body bucket and travels as a
 * pointer (`bodies/<sha256>`). The tightest of the three stores sets it: an EventBridge entry holds
 * 256 KB (262,144 bytes) in all, and the bus event carries the body's fields (`data`) plus the
 * event's and the connection's metadata (a few KB), so 200,000 bytes leave over 60 KB for those.
 * What the bus carries can be longer than the body (a notification's ids travel as strings: `7`
 * becomes `"7"`), so a body is measured that way too (`travelsAsPointer`). The other two are looser: base64 in the
 * SQS envelope makes it 266,668 bytes of 1 MiB, and the history item 200 KB of DynamoDB's 400 KB.
 */
export const INLINE_BODY_MAX_BYTES = 200_000;
/**
 * How many times its own size a body can become on the bus, at most: a notification's ids travel as
 * strings, and a number grows most that way, `1e20` (4 bytes) becoming `"100000000000000000000"` (23).
 */
export const MAX_BUS_GROWTH = 6;

/**
 * Whether a body of up to `maxBodyBytes` may go through the body store: above the inline line, or
 * large enough that its ids, as strings, could pass it (`travelsAsPointer`). Then the receiver may
 * make an S3 put besides the SQS send.
 *
 * @example
 * bodiesMayTravelAsPointers(200_000); // true: 200,000 bytes of `[1,2,…]` are 400,000 on the bus
 * bodiesMayTravelAsPointers(30_000); // false
 */
export function bodiesMayTravelAsPointers(maxBodyBytes: number): boolean {
  return maxBodyBytes * MAX_BUS_GROWTH > INLINE_BODY_MAX_BYTES;
}
/** Lambda's synchronous invoke payload limit (6 MiB): the whole API Gateway event must fit in it. */
export const LAMBDA_SYNC_PAYLOAD_BYTES = 6_291_456;
/**
 * Largest `maxBodyBytes` allowed. Assumption (docs/makini-wire-format.md): API Gateway may hand
 * the body to the receiver base64-encoded (4/3 of its size; the local API always does), so
 * 4,500,000 bytes make 6,000,000 in the event, leaving 291,456 bytes for headers and request context.
 */
export const MAX_BODY_BYTES = 4_500_000;
/** SQS caps a queue's visibility timeout at 12 hours. */
const SQS_MAX_VISIBILITY_SECONDS = 43_200;
/** Makini expects a 200 within this many seconds. */
export const MAKINI_DEADLINE_SECONDS = 10;
/** Longest Retry-After the poller honours inside a run; longer waits are left to the next run. */
export const MAKINI_MAX_RETRY_AFTER_MS = 10_000;
/** Time a poll run keeps free after its worst in-flight poll, to record outcomes and flush metrics. */
const POLL_RUN_MARGIN_MS = 5_000;
/**
 * Makini calls one poll makes at most: system mode issues a connection token and reads the
 * integration (and, once an hour, gets a system token); per-connection mode refreshes, reads, and
 * after a refused token refreshes and reads once more.
 */
const MAKINI_CALLS_PER_POLL = 3;
/** Time kept free between the worst case of our AWS calls and the receiver's timeout. */
const RECEIVER_SAFETY_MARGIN_MS = 1_000;

export interface MakiniWebhookConfig {
  /** How webhooks are signed: `makini` (HMAC of the raw body) or `standard-webhooks`. */
  readonly signatureScheme: SignatureSchemeName;
  /** Headers that may carry the `makini` signature, in order of precedence; the first present one is read. Case-insensitive. */
  readonly signatureHeaders: readonly string[];
  /** `makini` scheme: which bytes the signature is checked over. */
  readonly signedBytes: SignedBytes;
  /** HMAC algorithm of the `makini` scheme. */
  readonly signatureAlgorithm: HmacAlgorithm;
  /** `standard-webhooks`: largest accepted distance between `webhook-timestamp` and now. */
  readonly timestampToleranceSeconds: number;
  /** Source addresses and CIDR ranges allowed to post webhooks (`makini`: Makini's documented addresses); empty: any. */
  readonly allowedSourceIps: readonly string[];
  /** Body fields that may carry a webhook's own id (dedup key), in order. Empty: always deduplicate by content. */
  readonly eventIdFields: readonly string[];
  /** Body fields that may carry the event type, in order. */
  readonly eventTypeFields: readonly string[];
  /** Body fields that may carry the event time (ISO 8601, or epoch seconds or milliseconds), in order. */
  readonly eventTimeFields: readonly string[];
  /** Body fields that may carry the connection id, in order (a per-connection URL wins over them). */
  readonly eventConnectionFields: readonly string[];
  /** A byte-identical copy of a webhook without an id is a retry when received within this many minutes of the first. */
  readonly contentDedupWindowMinutes: number;
  /** Largest accepted request body; larger ones get 413. */
  readonly maxBodyBytes: number;
  /** How long the receiver keeps the signing secret in memory before fetching it again. */
  readonly secretCacheSeconds: number;
  /** On a signature mismatch the secret is re-fetched at most once per this many seconds. */
  readonly secretRefreshIntervalSeconds: number;
  /** Existing Secrets Manager secret (name or full ARN) holding the signing secret; empty: the stack creates one. */
  readonly signingSecret: string;
  /** Receiver Lambda timeout. Must stay well under Makini's 10 s. */
  readonly receiverTimeoutSeconds: number;
  /** Receiver Lambda memory. */
  readonly receiverMemoryMB: number;
  /** Per-attempt timeout of every AWS SDK call made by the receiver. */
  readonly awsRequestTimeoutMs: number;
  /** Attempts (first try included) of every AWS SDK call made by the receiver. */
  readonly awsMaxAttempts: number;
  /** API Gateway stage steady-state rate limit, requests per second. */
  readonly throttleRateLimit: number;
  /** API Gateway stage burst limit, requests. */
  readonly throttleBurstLimit: number;
  /** Deliveries of one message before SQS moves it to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** Timeout of the queue's consumer; the queue's visibility timeout is 6x this. */
  readonly consumerTimeoutSeconds: number;
  /** Consumer Lambda memory. */
  readonly consumerMemoryMB: number;
  /** Messages per consumer invocation. Above 10 needs a batching window. */
  readonly consumerBatchSize: number;
  /** Seconds SQS may wait to fill a consumer batch. */
  readonly consumerBatchingWindowSeconds: number;
  /** Days a webhook id is remembered for deduplication; longer than Makini's 24 h of retries. */
  readonly dedupWindowDays: number;
  /** Days processed events stay queryable in the history. */
  readonly historyRetentionDays: number;
  /** Days the event bus archive keeps events for replay; 0 keeps them forever. */
  readonly eventArchiveRetentionDays: number;
  /** ARN of the customer-managed KMS key of the secrets (signing, credentials, tokens), if not AWS-managed. */
  readonly secretsKmsKey: string;
  /** Secrets Manager name prefix of the per-connection token secrets. */
  readonly connectionSecretPrefix: string;
  /** How long the poller caches connection tokens. */
  readonly tokenCacheSeconds: number;
  /** Per-connection mode: where the tokens are kept, `table` (KMS-sealed items of the event table) or `secrets-manager` (one secret each). */
  readonly tokenStore: TokenStore;
  /** How the poller finds connections and their tokens: `system` (client credentials), `per-connection` (one token secret each), or `auto` (system when its secret exists). */
  readonly pollMode: PollMode;
  /** Secrets Manager name of the system client credentials `{"client_id", "client_secret"}` (system mode). */
  readonly systemCredentialsSecret: string;
  /** Makini API base URL (Makini documents `https://api.makini.io`, no version path). */
  readonly makiniApiUrl: string;
  /** Sent as a `Makini-Version` header when set; Makini documents none. */
  readonly makiniApiVersion: string;
  /** `per_page` of Makini list calls. */
  readonly makiniPageSize: number;
  /** Lifetime asked for the short-lived connection tokens system mode issues per poll. */
  readonly connectionTokenSeconds: number;
  /** Makini connection `status` values and what they mean (`value=online|offline|reauthorization_required`); other values are kept verbatim. */
  readonly connectionStatusMap: readonly string[];
  /** Per-connection mode: refresh an access token that expires within this many days. */
  readonly tokenRefreshMarginDays: number;
  /** Per-connection mode: warn when a refresh token expires within this many days. */
  readonly refreshTokenWarningDays: number;
  /** Per-request timeout of Makini API calls. */
  readonly makiniRequestTimeoutMs: number;
  /** Attempts per Makini API call (429, 5xx and timeouts are retried). */
  readonly makiniMaxAttempts: number;
  /** Minutes between poller runs. */
  readonly pollIntervalMinutes: number;
  /** A connection with no webhook for this many minutes is polled. */
  readonly pollExpectedWindowMinutes: number;
  /** Poll every connection on every run, not only silent, unhealthy or unseen ones. */
  readonly pollAll: boolean;
  /** Connections polled at the same time. */
  readonly pollConcurrency: number;
  /** System mode: a run with more due connections than this hands them to worker invocations in shards of this many. */
  readonly pollShardSize: number;
  /** System mode: worker invocations polling shards at the same time (each with pollConcurrency polls in flight). */
  readonly pollShardConcurrency: number;
  /** Poller Lambda timeout; its time budget stops 10 s before. */
  readonly pollerTimeoutSeconds: number;
  /** Poller Lambda memory. */
  readonly pollerMemoryMB: number;
  /** Consecutive failed polls of a connection that open its circuit breaker. */
  readonly breakerFailureThreshold: number;
  /** Minutes an open breaker skips its connection before one half-open probe. */
  readonly breakerCooldownMinutes: number;
  /** Email address subscribed to the alarm topic; empty for none. */
  readonly alarmEmail: string;
  /** Alarm when the oldest queued webhook is older than this many minutes. */
  readonly queueAgeAlarmMinutes: number;
  /** Alarm when more signatures than this are rejected in 5 minutes. */
  readonly signatureRejectedAlarmThreshold: number;
  /** Alarm when polls fail in this many consecutive 5-minute periods. */
  readonly pollFailedAlarmPeriods: number;
  /** Alarm when no webhook arrives for this many hours; 0 turns the alarm off. */
  readonly silenceAlarmHours: number;
  /** Create the CloudWatch dashboard (billed beyond an account's first three). Off by default: the alarms reach the alarm topic without it. */
  readonly dashboard: boolean;
  /** Text of the reauthorization notification; {connectionId} and {detectedAt} are filled in. */
  readonly reauthNotificationTemplate: string;
  /** Retention of every log group the stack creates (API access logs and Lambda logs). */
  readonly logRetentionDays: number;
  /** Powertools log level of the Lambdas. */
  readonly logLevel: LogLevel;
  /** Level of Lambda's own platform lines (start, end, report) kept in the logs: `WARN` keeps only failures. */
  readonly platformLogLevel: PlatformLogLevel;
  /** CloudWatch namespace of the EMF metrics. */
  readonly metricsNamespace: string;
  /** X-Ray active tracing on the Lambdas. Off by default: see docs/cost.md. */
  readonly tracing: boolean;
}

type Key = keyof MakiniWebhookConfig;

/**
 * One row of the config table: type, default and bounds. The reference text is in config-docs.ts,
 * which the Lambdas do not bundle. `deployOnly`: read by the CDK alone (no function code and no
 * cross-check reads it), so it is left out of the functions' environment.
 */
type Spec = (
  | { kind: 'int'; default: number; min: number; max: number; oneOf?: readonly number[] }
  | { kind: 'enum'; default: string; values: readonly string[] }
  | { kind: 'string'; default: string; pattern: RegExp; hint: string }
  | { kind: 'bool'; default: boolean }
  /** Comma-separated in context and environment, an array in code. */
  | { kind: 'list'; default: readonly string[]; minItems: number; maxItems: number; item: (value: string) => boolean; hint: string }
) & { deployOnly?: true };

const HEADER_NAME = /^[A-Za-z0-9-]{1,128}$/;
/** A top-level JSON field name usable in a list setting (no commas, no spaces). */
const FIELD_NAME = /^[A-Za-z0-9_$@.-]{1,64}$/;
const fieldList = (defaults: readonly string[], minItems = 1): Spec => ({ kind: 'list', default: defaults, minItems, maxItems: 16, item: (v) => FIELD_NAME.test(v), hint: 'JSON field names' });

/** CloudWatch Logs accepts only these retention periods (days). */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

export const CONFIG_SPEC: { readonly [K in Key]: Spec } = {
  signatureScheme: { kind: 'enum', default: 'makini', values: SIGNATURE_SCHEMES },
  signatureHeaders: { kind: 'list', default: ['x-webhook-signature', 'x-makini-signature'], minItems: 1, maxItems: 8, item: (v) => HEADER_NAME.test(v), hint: 'HTTP header names' },
  signedBytes: { kind: 'enum', default: 'both', values: SIGNED_BYTES },
  signatureAlgorithm: { kind: 'enum', default: 'sha256', values: HMAC_ALGORITHMS },
  timestampToleranceSeconds: { kind: 'int', default: 300, min: 1, max: 86_400 },
  allowedSourceIps: { kind: 'list', default: [], minItems: 0, maxItems: 64, item: isSourceIpRule, hint: 'IP addresses, CIDR ranges, or makini' },
  eventIdFields: fieldList(['id'], 0),
  eventTypeFields: fieldList(['event', 'type', 'event_type', 'eventType']),
  eventTimeFields: fieldList(['timestamp', 'occurred_at', 'occurredAt', 'created_at', 'createdAt']),
  eventConnectionFields: fieldList(['connection_id', 'connectionId'], 0),
  contentDedupWindowMinutes: { kind: 'int', default: 15, min: 1, max: 1_440 },
  maxBodyBytes: { kind: 'int', default: 4_194_304, min: 1, max: MAX_BODY_BYTES },
  secretCacheSeconds: { kind: 'int', default: 300, min: 0, max: 86_400 },
  secretRefreshIntervalSeconds: { kind: 'int', default: 30, min: 1, max: 3_600 },
  signingSecret: { kind: 'string', default: '', pattern: /^$|^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$|^[A-Za-z0-9/_+=.@-]{1,512}$/, hint: 'a secret name or a Secrets Manager secret ARN' },
  receiverTimeoutSeconds: { kind: 'int', default: 8, min: 2, max: MAKINI_DEADLINE_SECONDS - 2 },
  receiverMemoryMB: { kind: 'int', default: 512, min: 128, max: 10_240 },
  awsRequestTimeoutMs: { kind: 'int', default: 1_000, min: 100, max: 5_000 },
  awsMaxAttempts: { kind: 'int', default: 2, min: 1, max: 5 },
  throttleRateLimit: { kind: 'int', default: 200, min: 1, max: 10_000 },
  throttleBurstLimit: { kind: 'int', default: 400, min: 1, max: 5_000 },
  maxReceiveCount: { kind: 'int', default: 5, min: 1, max: 1_000 },
  consumerTimeoutSeconds: { kind: 'int', default: 30, min: 1, max: 900 },
  consumerMemoryMB: { kind: 'int', default: 512, min: 128, max: 10_240 },
  consumerBatchSize: { kind: 'int', default: 10, min: 1, max: 10_000 },
  consumerBatchingWindowSeconds: { kind: 'int', default: 0, min: 0, max: 300 },
  dedupWindowDays: { kind: 'int', default: 7, min: 2, max: 365 },
  historyRetentionDays: { kind: 'int', default: 30, min: 1, max: 3_650 },
  eventArchiveRetentionDays: { kind: 'int', default: 30, min: 0, max: 3_650 },
  secretsKmsKey: { kind: 'string', default: '', pattern: /^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, hint: 'a KMS key ARN, or empty' },
  connectionSecretPrefix: { kind: 'string', default: 'makini/connections/', pattern: /^[A-Za-z0-9/_+=.@-]{1,256}$/, hint: 'a Secrets Manager name prefix' },
  tokenCacheSeconds: { kind: 'int', default: 300, min: 0, max: 86_400 },
  tokenStore: { kind: 'enum', default: 'table', values: TOKEN_STORES },
  pollMode: { kind: 'enum', default: 'auto', values: POLL_MODES },
  systemCredentialsSecret: { kind: 'string', default: 'makini/system-credentials', pattern: /^[A-Za-z0-9/_+=.@-]{1,512}$/, hint: 'a secret name' },
  makiniApiUrl: { kind: 'string', default: 'https://api.makini.io', pattern: /^https?:\/\/[^\s]+[^/\s]$/, hint: 'an http(s) URL without a trailing slash' },
  makiniApiVersion: { kind: 'string', default: '', pattern: /^[A-Za-z0-9._-]{0,32}$/, hint: 'a version label such as v1, or empty for none' },
  makiniPageSize: { kind: 'int', default: 100, min: 1, max: 1_000 },
  connectionTokenSeconds: { kind: 'int', default: 300, min: 60, max: 3_600 },
  connectionStatusMap: {
    kind: 'list',
    default: DEFAULT_CONNECTION_STATUS_MAP,
    minItems: 0,
    maxItems: 64,
    item: (v) => /^[A-Za-z0-9 _.:-]{1,64}=(online|offline|reauthorization_required)$/.test(v),
    hint: 'value=online, value=offline or value=reauthorization_required entries',
  },
  tokenRefreshMarginDays: { kind: 'int', default: 7, min: 1, max: 29 },
  refreshTokenWarningDays: { kind: 'int', default: 3, min: 1, max: 30 },
  makiniRequestTimeoutMs: { kind: 'int', default: 5_000, min: 100, max: 60_000 },
  makiniMaxAttempts: { kind: 'int', default: 3, min: 1, max: 10 },
  pollIntervalMinutes: { kind: 'int', default: 5, min: 1, max: 1_440 },
  pollExpectedWindowMinutes: { kind: 'int', default: 30, min: 1, max: 10_080 },
  pollAll: { kind: 'bool', default: false },
  pollConcurrency: { kind: 'int', default: 64, min: 1, max: 512 },
  // A shard travels as one SQS message of at most 200 KB (lambdas/poller/poller.ts): 2,000 entries of about 70 bytes each fit.
  pollShardSize: { kind: 'int', default: 2_000, min: 1, max: 2_000 },
  // SQS event source mappings scale between 2 and 1,000 concurrent invocations.
  pollShardConcurrency: { kind: 'int', default: 4, min: 2, max: 1_000 },
  pollerTimeoutSeconds: { kind: 'int', default: 180, min: 30, max: 900 },
  pollerMemoryMB: { kind: 'int', default: 512, min: 128, max: 10_240 },
  breakerFailureThreshold: { kind: 'int', default: 5, min: 1, max: 100 },
  breakerCooldownMinutes: { kind: 'int', default: 30, min: 1, max: 10_080 },
  alarmEmail: { kind: 'string', default: '', pattern: /^$|^[^\s@]+@[^\s@]+\.[^\s@]+$/, hint: 'an email address', deployOnly: true },
  queueAgeAlarmMinutes: { kind: 'int', default: 15, min: 1, max: 20_160 },
  signatureRejectedAlarmThreshold: { kind: 'int', default: 10, min: 0, max: 1_000_000 },
  pollFailedAlarmPeriods: { kind: 'int', default: 3, min: 1, max: 288 },
  silenceAlarmHours: { kind: 'int', default: 24, min: 0, max: 24 },
  dashboard: { kind: 'bool', default: false, deployOnly: true },
  reauthNotificationTemplate: {
    deployOnly: true,
    kind: 'string',
    default: 'Makini connection {connectionId} needs reauthorization (detected {detectedAt}). Ask the customer to reconnect it in the Makini dashboard.',
    pattern: /^(?=[\s\S]*\{connectionId\})[^"\\]{1,2000}$/,
    hint: 'text of up to 2000 characters, without double quotes or backslashes, containing {connectionId}',
  },
  logRetentionDays: { kind: 'int', default: 30, min: 1, max: 3_653, oneOf: LOG_RETENTION_DAYS },
  logLevel: { kind: 'enum', default: 'INFO', values: LOG_LEVELS },
  platformLogLevel: { kind: 'enum', default: 'WARN', values: PLATFORM_LOG_LEVELS, deployOnly: true },
  metricsNamespace: { kind: 'string', default: 'MakiniWebhooks', pattern: /^[A-Za-z0-9._/#:-]{1,255}$/, hint: 'a CloudWatch namespace' },
  tracing: { kind: 'bool', default: false },
};

export const CONFIG_KEYS = Object.keys(CONFIG_SPEC) as Key[];

/** Settings that were renamed, so an old name gets a pointer instead of "unknown setting". */
const RENAMED: Readonly<Record<string, string>> = {
  signatureHeader: 'renamed to signatureHeaders (a comma-separated list)',
  makiniStatusPath: 'removed: the poller reads the connection list and GET /api/integrations/current, as Makini documents (docs/makini-wire-format.md)',
  makiniSyncStatusPath: 'removed: the poller reads GET /api/integrations/current, as Makini documents (docs/makini-wire-format.md)',
};
const RENAMED_KEYS = Object.keys(RENAMED);

/** `makini`, an IPv4 or IPv6 address, or a CIDR range of one. */
function isSourceIpRule(value: string): boolean {
  if (value === 'makini') return true;
  const [address, bits, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** Thrown when configuration is invalid. `problems` lists every problem found, not just the first. */
export class ConfigError extends Error {
  public readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid makini-webhook-ingestion configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The configuration with every default applied. */
export const DEFAULT_CONFIG: MakiniWebhookConfig = Object.fromEntries(
  CONFIG_KEYS.map((key) => [key, CONFIG_SPEC[key].default]),
) as unknown as MakiniWebhookConfig;

/**
 * Applies defaults to `input`, coerces strings (from context or environment) and validates.
 *
 * @example
 * resolveConfig({ signatureScheme: 'standard-webhooks', maxBodyBytes: '65536' });
 * @throws ConfigError listing every problem at once.
 */
export function resolveConfig(input: Readonly<Record<string, unknown>> = {}): MakiniWebhookConfig {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(input)) {
    if (!(name in CONFIG_SPEC) && input[name] !== undefined) problems.push(RENAMED[name] ? `${name}: ${RENAMED[name]}` : `${name}: unknown setting`);
  }
  for (const key of CONFIG_KEYS) {
    const raw = input[key];
    const spec = CONFIG_SPEC[key];
    if (raw === undefined || raw === null) {
      out[key] = spec.default;
      continue;
    }
    const { value, problem } = coerce(spec, raw);
    if (problem) problems.push(`${key}: ${problem} (got ${JSON.stringify(raw)})`);
    else out[key] = value;
  }
  // Left unset, the poller's timeout fits its interval (runs must not overlap).
  if (input.pollerTimeoutSeconds === undefined || input.pollerTimeoutSeconds === null) {
    out.pollerTimeoutSeconds = Math.min(CONFIG_SPEC.pollerTimeoutSeconds.default as number, (out.pollIntervalMinutes as number) * 60);
  }
  if (problems.length === 0) problems.push(...crossCheck(out as unknown as MakiniWebhookConfig));
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as unknown as MakiniWebhookConfig;
}

function coerce(spec: Spec, raw: unknown): { value?: unknown; problem?: string } {
  switch (spec.kind) {
    case 'int': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) return { problem: 'must be a whole number' };
      if (n < spec.min || n > spec.max) return { problem: `must be between ${spec.min} and ${spec.max}` };
      if (spec.oneOf && !spec.oneOf.includes(n)) return { problem: `must be one of ${spec.oneOf.join(', ')}` };
      return { value: n };
    }
    case 'enum':
      return typeof raw === 'string' && spec.values.includes(raw)
        ? { value: raw }
        : { problem: `must be one of ${spec.values.join(', ')}` };
    case 'string':
      return typeof raw === 'string' && spec.pattern.test(raw) ? { value: raw } : { problem: `must be ${spec.hint}` };
    case 'bool':
      if (typeof raw === 'boolean') return { value: raw };
      if (raw === 'true' || raw === 'false') return { value: raw === 'true' };
      return { problem: 'must be true or false' };
    case 'list': {
      const items = typeof raw === 'string' ? raw.split(',').map((v) => v.trim()).filter((v) => v !== '') : raw;
      if (!Array.isArray(items) || !items.every((v): v is string => typeof v === 'string')) return { problem: `must be ${spec.hint}, comma-separated` };
      const bad = items.filter((v) => !spec.item(v));
      if (bad.length > 0) return { problem: `must be ${spec.hint}; not: ${bad.map((v) => JSON.stringify(v)).join(', ')}` };
      if (items.length < spec.minItems || items.length > spec.maxItems) return { problem: `must list ${spec.minItems} to ${spec.maxItems} items` };
      return { value: Object.freeze([...new Set(items)]) };
    }
  }
}

/**
 * The time a receiver request keeps for its writes after the signature: an S3 put when bodies may
 * go through the body store, and the SQS send, each with every attempt timing out, plus the safety
 * margin. A second Secrets Manager read (for a rotated secret) gets only what is left beyond this,
 * so the request answers 503 rather than outliving the function (which API Gateway would answer
 * with a bare 500). After a first read served from the cache, that is at least one read's worst case.
 *
 * @example
 * receiverWritesReserveMs(resolveConfig()); // 5000: 2 writes x 2 attempts x 1000 ms + 1000 ms
 */
export function receiverWritesReserveMs(c: MakiniWebhookConfig): number {
  return (bodiesMayTravelAsPointers(c.maxBodyBytes) ? 2 : 1) * c.awsMaxAttempts * c.awsRequestTimeoutMs + RECEIVER_SAFETY_MARGIN_MS;
}

function crossCheck(c: MakiniWebhookConfig): string[] {
  const problems: string[] = [];
  // Worst case of one request: a Secrets Manager fetch, then the writes, each with every attempt
  // timing out, plus the SDK's backoff between attempts (well under 1 s at these attempt counts). A
  // second fetch, for a rotated secret, gets only the time left beyond the writes (receiverWritesReserveMs).
  const calls = bodiesMayTravelAsPointers(c.maxBodyBytes) ? 3 : 2;
  const worstAwsMs = calls * c.awsMaxAttempts * c.awsRequestTimeoutMs;
  if (worstAwsMs + RECEIVER_SAFETY_MARGIN_MS > c.receiverTimeoutSeconds * 1000) {
    problems.push(
      `receiverTimeoutSeconds (${c.receiverTimeoutSeconds}) must exceed the worst case of the receiver's AWS calls ` +
        `(${calls} calls x awsMaxAttempts ${c.awsMaxAttempts} x awsRequestTimeoutMs ${c.awsRequestTimeoutMs} + ${RECEIVER_SAFETY_MARGIN_MS} ms margin)`,
    );
  }
  if (c.consumerBatchSize > 10 && c.consumerBatchingWindowSeconds < 1) {
    problems.push(`consumerBatchSize (${c.consumerBatchSize}) above 10 needs consumerBatchingWindowSeconds of at least 1`);
  }
  if (pollRunReserveMs(c) + 10_000 > c.pollerTimeoutSeconds * 1000) {
    problems.push(
      `pollerTimeoutSeconds (${c.pollerTimeoutSeconds}) leaves under 10 s to poll after reserving ${pollRunReserveMs(c) / 1000} s for the slowest poll in flight ` +
        `(makiniMaxAttempts x makiniRequestTimeoutMs + waits between attempts + margin)`,
    );
  }
  if (c.queueAgeAlarmMinutes * 60 >= QUEUE_RETENTION_SECONDS) {
    problems.push(`queueAgeAlarmMinutes (${c.queueAgeAlarmMinutes}) must be shorter than the queue's ${QUEUE_RETENTION_SECONDS / 86_400}-day retention, or the alarm can never fire`);
  }
  if (c.maxReceiveCount * c.consumerTimeoutSeconds * 6 >= QUEUE_RETENTION_SECONDS) {
    problems.push(
      `maxReceiveCount (${c.maxReceiveCount}) x the visibility timeout (6 x consumerTimeoutSeconds ${c.consumerTimeoutSeconds} s) must be shorter than the queue's ${QUEUE_RETENTION_SECONDS / 86_400}-day retention, or a failing message expires before it reaches the dead-letter queue`,
    );
  }
  if (c.refreshTokenWarningDays > c.tokenRefreshMarginDays) {
    // A refresh token outlives its access token by a day: a warning window wider than the refresh
    // margin would warn about every healthy pair before its refresh is even due.
    problems.push(`refreshTokenWarningDays (${c.refreshTokenWarningDays}) must not exceed tokenRefreshMarginDays (${c.tokenRefreshMarginDays}), or every healthy pair warns before its refresh is due`);
  }
  if (c.pollerTimeoutSeconds > c.pollIntervalMinutes * 60) {
    problems.push(`pollerTimeoutSeconds (${c.pollerTimeoutSeconds}) must not exceed the poll interval (${c.pollIntervalMinutes} min), or runs overlap`);
  }
  if (c.consumerTimeoutSeconds * 6 > SQS_MAX_VISIBILITY_SECONDS) {
    problems.push(`consumerTimeoutSeconds (${c.consumerTimeoutSeconds}) x 6 exceeds SQS's 12 h visibility timeout limit`);
  }
  return problems;
}

/**
 * How long before the poller's timeout a run stops starting new polls: the slowest a poll already
 * in flight can take (every attempt timing out, the longest wait between attempts), plus a margin.
 */
export function pollRunReserveMs(c: Pick<MakiniWebhookConfig, 'makiniMaxAttempts' | 'makiniRequestTimeoutMs'>): number {
  const request = c.makiniMaxAttempts * c.makiniRequestTimeoutMs + (c.makiniMaxAttempts - 1) * MAKINI_MAX_RETRY_AFTER_MS;
  return MAKINI_CALLS_PER_POLL * request + POLL_RUN_MARGIN_MS;
}

/** `maxBodyBytes` → `MAKINI_MAX_BODY_BYTES`. */
export function envName(key: string): string {
  return `MAKINI_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * Reads `MAKINI_*` variables, e.g. `MAKINI_SIGNATURE_SCHEME`, over the defaults.
 *
 * @example
 * const config = configFromEnv(process.env);
 */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): MakiniWebhookConfig {
  return resolveConfig(Object.fromEntries([...CONFIG_KEYS, ...RENAMED_KEYS].map((key) => [key, env[envName(key)]])));
}

/**
 * A Lambda's settings: every setting that differs from its default, so that `configFromEnv` in the
 * function rebuilds exactly the configuration that was synthesized, cross-checks included. No list of
 * what each function reads is kept by hand (a function that read a setting left off its list would
 * validate a different configuration at init than `cdk synth` did). Lambda allows 4 KB of variables.
 *
 * @example
 * new lambda.Function(this, 'Fn', { environment: { ...functionEnvironment(config), MAKINI_EVENT_TABLE: table.tableName } });
 */
export function functionEnvironment(config: MakiniWebhookConfig): Record<string, string> {
  const keys = CONFIG_KEYS.filter((key) => !CONFIG_SPEC[key].deployOnly);
  const defaults = configToEnv(DEFAULT_CONFIG, keys);
  const env = Object.fromEntries(Object.entries(configToEnv(config, keys)).filter(([name, value]) => defaults[name] !== value));
  // As Lambda counts it: the variables serialized as JSON, in UTF-8 bytes.
  const bytes = Buffer.byteLength(JSON.stringify(env), 'utf8');
  if (bytes > FUNCTION_ENV_BUDGET_BYTES) {
    throw new ConfigError([`the settings that differ from their defaults take ${bytes} bytes of Lambda environment; at most ${FUNCTION_ENV_BUDGET_BYTES} fit beside the resource variables (Lambda's limit is 4 KB)`]);
  }
  return env;
}

/** Lambda's 4 KB of environment, less room for the resource variables (queue URL, table, bus…). */
const FUNCTION_ENV_BUDGET_BYTES = 3_072;

/** The `MAKINI_*` variables that reproduce `keys` of `config` through {@link configFromEnv}. */
export function configToEnv(config: MakiniWebhookConfig, keys: readonly Key[] = CONFIG_KEYS): Record<string, string> {
  return Object.fromEntries(keys.map((key) => [envName(key), Array.isArray(config[key]) ? (config[key] as readonly string[]).join(',') : String(config[key])]));
}

/**
 * Reads every config key from CDK context (`cdk.json` or `-c key=value`).
 *
 * @example
 * const config = configFromContext((key) => app.node.tryGetContext(key));
 */
export function configFromContext(tryGetContext: (key: string) => unknown): MakiniWebhookConfig {
  // Old names are read too, so a setting that was renamed fails loudly instead of being ignored.
  return resolveConfig(Object.fromEntries([...CONFIG_KEYS, ...RENAMED_KEYS].map((key) => [key, tryGetContext(key)])));
}

/**
 * Days a body kept in the body bucket lives (the bucket's lifecycle expiration): as long as the
 * history item that points to it (the longer of `dedupWindowDays` and `historyRetentionDays`, as
 * the table's TTL), and at least as long as the dead-letter queue keeps a message pointing to it
 * (14 days), so that a redrive finds its body.
 *
 * @example
 * bodyRetentionDays(DEFAULT_CONFIG); // 30
 */
export function bodyRetentionDays(c: Pick<MakiniWebhookConfig, 'dedupWindowDays' | 'historyRetentionDays'>): number {
  return Math.max(c.dedupWindowDays, c.historyRetentionDays, DLQ_RETENTION_SECONDS / 86_400);
}

/** Environment variables through which the stack hands resource identifiers to the Lambdas. */
export const RESOURCE_ENV = {
  queueUrl: 'MAKINI_WEBHOOK_QUEUE_URL',
  signingSecretId: 'MAKINI_SIGNING_SECRET_ID',
  eventTable: 'MAKINI_EVENT_TABLE',
  eventBus: 'MAKINI_EVENT_BUS',
  /** The poller's shard queue (system mode fan-out); unset: a run polls everything itself. */
  pollShardQueueUrl: 'MAKINI_POLL_SHARD_QUEUE_URL',
  /** The bucket holding bodies larger than {@link INLINE_BODY_MAX_BYTES}. */
  bodyBucket: 'MAKINI_BODY_BUCKET',
  /** The KMS key that seals the per-connection tokens kept in the table (`tokenStore=table`). */
  tokenKey: 'MAKINI_TOKEN_KEY_ARN',
} as const;

/** Reads a required resource variable, naming it when it is missing. */
export function requireEnv(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError([`${name}: required environment variable is not set`]);
  return value;
}
