/**
 * The consumer: SQS batch → claim and apply each webhook → publish the batch to the bus → complete.
 *
 * `consumeBatch` reads as one batch: every record is processed on its own (a failure fails only
 * that record, which SQS retries and, after `maxReceiveCount`, moves to the dead-letter queue);
 * then the newly processed events go to the bus in as few calls as possible, and only what the bus
 * accepted is marked complete. Whatever is not complete is retried, and every step is idempotent.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { configFromEnv, requireEnv, RESOURCE_ENV } from '../config/config';
import type { EventFields } from '../core/event';
import { BACKGROUND_CLIENT_CONFIG } from '../adapters/aws-client-config';
import { DynamoDbEventStore, eventStoreOptions } from '../adapters/dynamodb-event-store';
import { EventBridgePublisher, type EventPublisher } from '../adapters/eventbridge-publisher';
import { createLogger, withPowertools } from '../adapters/powertools';
import { S3BodyStore, s3ClientConfig } from '../adapters/s3-body-store';
import type { BodyStore } from '../core/body-store';
import { coalesceConnectionUpdates } from '../core/coalesce';
import { applyClaimed, claimMessage, finishProcessed, messageEventId, messageOrigin, type ClaimedMessage, type EventStore, type RecordOutcome } from '../core/consume';

export const CONSUMER_METRICS = {
  /**
   * Webhooks the receiver accepted, counted here at their first receive from the queue, one EMF
   * line per batch: the receiver writes no metric for a webhook that goes well, which would cost a
   * line of about 200 bytes per webhook (docs/cost.md). Also what the silence alarm watches.
   */
  received: 'WebhookReceived',
  processed: 'WebhookProcessed',
  duplicate: 'DuplicateSkipped',
  stale: 'StaleEvent',
  unprocessable: 'Unprocessable',
  failed: 'ProcessingFailed',
  mismatch: 'PayloadMismatch',
} as const;

export interface ConsumerDeps {
  readonly store: EventStore;
  /** Which body fields carry an event's type, time and connection (the config's `event…Fields`). */
  readonly fields: EventFields;
  readonly publisher: EventPublisher;
  /** Where bodies above `INLINE_BODY_MAX_BYTES` are read back from; a pointer without it fails its record. */
  readonly bodies?: Pick<BodyStore, 'get' | 'bucket'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * @example
 * const consume = createConsumerHandler({ store, fields: config, publisher, logger, metrics });
 * const { batchItemFailures } = await consume(sqsEvent, context);
 */
export function createConsumerHandler(deps: ConsumerDeps) {
  const { store, fields, publisher, bodies, logger, metrics } = deps;
  // One connection's state updates are grouped, never raced (see coalesce.ts).
  const updateConnection = coalesceConnectionUpdates((connectionId, update) => store.updateConnection(connectionId, update));

  /** A record that failed after its claim: remembered for `dlq list`, retried by SQS. */
  const fail = async (messageId: string, webhookId: string, error: unknown, what: string) => {
    logger.warn(`${what}; SQS will retry it`, { messageId, webhookId, error: (error as Error).name, message: (error as Error).message });
    await store.noteFailure?.(webhookId, `${(error as Error).name}: ${(error as Error).message}`);
  };

  return async function consumeBatch(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
    const received = event.Records.filter((r) => (r.attributes?.ApproximateReceiveCount ?? '1') === '1' && messageOrigin(r) === 'webhook').length;
    if (received > 0) metrics.addMetric(CONSUMER_METRICS.received, MetricUnit.Count, received);
    // 1. Claim every record (in parallel): duplicates, mismatches and unprocessable ones end here.
    const claimed: { messageId: string; claim: ClaimedMessage }[] = [];
    const response = await processPartialResponse(
      event,
      async (record: SQSRecord) => {
        try {
          const outcome = await claimMessage({ deliveryId: record.messageId, body: record.body }, store, fields, bodies);
          if (outcome.kind === 'claimed') claimed.push({ messageId: record.messageId, claim: outcome });
          else recordOutcome(outcome, logger, metrics);
        } catch (error) {
          await fail(record.messageId, await messageEventId({ deliveryId: record.messageId, body: record.body }, store), error, 'record failed');
          throw error;
        }
      },
      new BatchProcessor(EventType.SQS),
      { ...(context && { context }), throwOnFullBatchFailure: false },
    );
    const failures = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));

    // 2. Apply the claimed events, all requested at once so each connection's events share one write.
    const processed: { messageId: string; outcome: Extract<RecordOutcome, { kind: 'processed' }> }[] = [];
    await Promise.all(
      claimed.map(async ({ messageId, claim }) => {
        try {
          const outcome = await applyClaimed(claim, { updateConnection, requestPolls: (ids, at) => store.requestPolls(ids, at) });
          recordOutcome(outcome, logger, metrics);
          processed.push({ messageId, outcome });
        } catch (error) {
          await fail(messageId, claim.webhookId, error, 'state update failed');
          failures.add(messageId);
        }
      }),
    );

    // 3. Publish in the batch's order, 4. complete what the bus accepted.
    const position = new Map(event.Records.map((r, i) => [r.messageId, i]));
    processed.sort((a, b) => (position.get(a.messageId) ?? 0) - (position.get(b.messageId) ?? 0));
    const accepted = await publisher.publish(processed.map((p) => p.outcome.message));
    await Promise.all(
      processed.map(async ({ messageId, outcome }, i) => {
        try {
          if (!accepted[i]) throw new Error('the event bus did not accept the event');
          await finishProcessed(outcome, store);
        } catch (error) {
          await fail(messageId, outcome.webhookId, error, 'record not completed');
          failures.add(messageId);
        }
      }),
    );
    if (failures.size > 0) metrics.addMetric(CONSUMER_METRICS.failed, MetricUnit.Count, failures.size);
    return { batchItemFailures: [...failures].map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

function recordOutcome(outcome: RecordOutcome, logger: Logger, metrics: Metrics): void {
  switch (outcome.kind) {
    case 'processed': {
      const { event, stale, transition } = outcome.message;
      metrics.addMetric(CONSUMER_METRICS.processed, MetricUnit.Count, 1);
      if (stale) metrics.addMetric(CONSUMER_METRICS.stale, MetricUnit.Count, 1);
      // A transition (a connection going offline, needing reauthorization, …) is worth a line at INFO;
      // any other webhook that goes well writes none at the default level (its history item has it all).
      (transition ? logger.info : logger.debug).call(logger, 'webhook processed', { webhookId: outcome.webhookId, ...(outcome.connectionId !== undefined && { connectionId: outcome.connectionId }), type: event.type, stale, ...(transition && { transition }) });
      return;
    }
    case 'duplicate':
      metrics.addMetric(CONSUMER_METRICS.duplicate, MetricUnit.Count, 1);
      logger.debug('duplicate skipped', { webhookId: outcome.webhookId, deliveries: outcome.deliveries });
      return;
    case 'unprocessable':
      metrics.addMetric(CONSUMER_METRICS.unprocessable, MetricUnit.Count, 1);
      logger.warn('unprocessable webhook stored', { webhookId: outcome.webhookId, reason: outcome.reason });
      return;
    case 'mismatch':
      metrics.addMetric(CONSUMER_METRICS.mismatch, MetricUnit.Count, 1);
      logger.error('webhook id reused with a different body; copy kept for inspection', { webhookId: outcome.webhookId });
      return;
  }
}

/** Builds the production handler from `process.env`, as Lambda and the local stack do. */
export function createConsumerHandlerFromEnv(env: Readonly<Record<string, string | undefined>> = process.env) {
  const config = configFromEnv(env);
  const logger = createLogger('consumer', config.logLevel);
  const metrics = new Metrics({ namespace: config.metricsNamespace, serviceName: 'consumer' });
  const store = new DynamoDbEventStore(DynamoDBDocumentClient.from(new DynamoDBClient(BACKGROUND_CLIENT_CONFIG)), eventStoreOptions(config, requireEnv(env, RESOURCE_ENV.eventTable)));
  const publisher = new EventBridgePublisher(new EventBridgeClient(BACKGROUND_CLIENT_CONFIG), requireEnv(env, RESOURCE_ENV.eventBus));
  const bucket = env[RESOURCE_ENV.bodyBucket];
  const bodies = bucket ? new S3BodyStore(new S3Client(s3ClientConfig(env, BACKGROUND_CLIENT_CONFIG)), bucket) : undefined;
  return withPowertools(createConsumerHandler({ store, fields: config, publisher, ...(bodies && { bodies }), logger, metrics }), logger, metrics);
}
