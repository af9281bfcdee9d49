/**
 * The receiver: API Gateway → verify the signature → SQS → 200.
 *
 * `receiveWebhook` reads top to bottom as one request: map the event, let the core decide, record
 * the outcome, answer. Everything AWS-specific is an adapter built once per container, in
 * {@link createReceiverHandlerFromEnv}.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { configFromEnv, receiverWritesReserveMs, requireEnv, RESOURCE_ENV, type MakiniWebhookConfig } from '../config/config';
import { awsClientConfig } from '../adapters/aws-client-config';
import { createLogger, withPowertools } from '../adapters/powertools';
import { SecretsManagerSigningSecrets, type SigningSecretsProvider } from '../adapters/secrets-manager-signing-secrets';
import { S3BodyStore, s3ClientConfig } from '../adapters/s3-body-store';
import { SqsWebhookQueue } from '../adapters/sqs-webhook-queue';
import type { BodyStore } from '../core/body-store';
import { createReceiver, toHttpResponse, type IncomingWebhook, type ReceiveOutcome, type SigningSecretSource, type WebhookQueue } from '../core/receive';
import { createSignatureScheme } from '../core/signature';
import { sourceAllowlist } from '../core/source-allowlist';
import { fromApiGatewayEvent, toApiGatewayResult } from './api-gateway';

/**
 * The receiver's metrics: only the unusual. A webhook that goes well writes no metric here (an EMF
 * line per invocation would be about 200 bytes of logs per webhook, docs/cost.md); the consumer
 * counts it as `WebhookReceived`, one line per batch.
 */
export const METRICS = {
  /**
   * The signature covered `JSON.stringify(JSON.parse(body))` only (Makini's documented verifier).
   * The raw body's matches are the rest of `WebhookReceived`: a metric of their own would have data
   * every hour webhooks arrive, and cost $0.30 a month for a difference the dashboard computes.
   */
  signedCanonical: 'SignatureMatchedCanonicalJson',
  signatureRejected: 'SignatureRejected',
  sourceForbidden: 'SourceForbidden',
  enqueueFailed: 'EnqueueFailed',
  /** S3 refused a large body (above `INLINE_BODY_MAX_BYTES`); the sender got 503. */
  bodyStoreFailed: 'BodyStoreFailed',
  secretUnavailable: 'SigningSecretUnavailable',
} as const;

export interface ReceiverHandlerDeps {
  readonly config: MakiniWebhookConfig;
  readonly secrets: SigningSecretSource;
  readonly queue: WebhookQueue;
  /** Where bodies above `INLINE_BODY_MAX_BYTES` go; without one they get 413. */
  readonly bodies?: Pick<BodyStore, 'put'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/**
 * The handler, given its dependencies. Tests call this; Lambda and the local stack call {@link createReceiverHandlerFromEnv}.
 *
 * @example
 * const handle = createReceiverHandler({ config, secrets, queue, logger, metrics });
 */
export function createReceiverHandler(deps: ReceiverHandlerDeps) {
  const receive = createReceiver({
    scheme: createSignatureScheme(deps.config),
    secrets: deps.secrets,
    queue: deps.queue,
    ...(deps.bodies && { bodies: deps.bodies }),
    maxBodyBytes: deps.config.maxBodyBytes,
    idFields: deps.config.eventIdFields,
    allowSource: sourceAllowlist(deps.config.allowedSourceIps),
    now: deps.now ?? Date.now,
    writesReserveMs: receiverWritesReserveMs(deps.config),
  });
  return async function receiveWebhook(event: APIGatewayProxyEventV2, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<APIGatewayProxyStructuredResultV2> {
    const request = fromApiGatewayEvent(event);
    const outcome = await receive(request, context && (() => context.getRemainingTimeInMillis()));
    record(outcome, request, deps.logger, deps.metrics);
    return toApiGatewayResult(toHttpResponse(outcome, request.requestId));
  };
}

/** One log line and the metrics of an outcome. Never the body, the signature or a secret. */
function record(outcome: ReceiveOutcome, request: IncomingWebhook, logger: Logger, metrics: Metrics): void {
  // What the trimmed access log no longer has, on the lines that need it: who sent a refused request.
  const caller = { requestId: request.requestId, sourceIp: request.sourceIp, ...(request.headers['user-agent'] !== undefined && { userAgent: request.headers['user-agent'].slice(0, 200) }) };
  switch (outcome.kind) {
    case 'accepted':
      if (outcome.signedForm !== 'raw') metrics.addMetric(METRICS.signedCanonical, MetricUnit.Count, 1);
      // DEBUG: at the default level a webhook that goes well writes no line (the access log has the request).
      logger.debug('webhook accepted', { webhookId: outcome.webhookId, bytes: outcome.bytes, ...(outcome.signedForm !== 'raw' && { signedForm: outcome.signedForm }) });
      return;
    case 'rejected':
      if (outcome.error.type === 'authentication_error') metrics.addMetric(METRICS.signatureRejected, MetricUnit.Count, 1);
      if (outcome.error.code === 'FORBIDDEN_SOURCE') metrics.addMetric(METRICS.sourceForbidden, MetricUnit.Count, 1);
      logger.warn('webhook rejected', { code: outcome.error.code, reason: outcome.reason, ...caller });
      return;
    case 'unavailable':
      metrics.addMetric(UNAVAILABLE_METRIC[outcome.dependency], MetricUnit.Count, 1);
      logger.error('dependency unavailable, answered 503', { dependency: outcome.dependency, cause: describe(outcome.cause), requestId: request.requestId });
      return;
  }
}

const UNAVAILABLE_METRIC = { secrets: METRICS.secretUnavailable, bodies: METRICS.bodyStoreFailed, queue: METRICS.enqueueFailed } as const;

/** Names and messages along an error's cause chain: what an operator needs, no stack noise. */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) parts.push(`${e.name}: ${e.message}`);
  return parts.join(' <- ') || String(error);
}

/**
 * Builds the production handler from `env`, as Lambda and the local stack do. `secretsProvider`
 * makes the Parameters provider of the signing secret (`secretsManagerProvider` in production).
 * It is a parameter, not an import, so a bundle only contains the provider it is built with.
 */
export function createReceiverHandlerFromEnv(env: Readonly<Record<string, string | undefined>>, secretsProvider: (clientConfig: ReturnType<typeof awsClientConfig>) => SigningSecretsProvider) {
  const config = configFromEnv(env);
  const logger = createLogger('receiver', config.logLevel);
  const metrics = new Metrics({ namespace: config.metricsNamespace, serviceName: 'receiver' });
  const clientConfig = awsClientConfig(config);
  const secrets = new SecretsManagerSigningSecrets(secretsProvider(clientConfig), {
    secretId: requireEnv(env, RESOURCE_ENV.signingSecretId),
    cacheSeconds: config.secretCacheSeconds,
    refreshIntervalSeconds: config.secretRefreshIntervalSeconds,
  });
  const queue = new SqsWebhookQueue(new SQSClient(clientConfig), requireEnv(env, RESOURCE_ENV.queueUrl));
  const bucket = env[RESOURCE_ENV.bodyBucket];
  const bodies = bucket ? new S3BodyStore(new S3Client(s3ClientConfig(env, clientConfig)), bucket) : undefined;
  return withPowertools(createReceiverHandler({ config, secrets, queue, ...(bodies && { bodies }), logger, metrics }), logger, metrics);
}

