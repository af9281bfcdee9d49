import { createHash, createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context, SQSRecord } from 'aws-lambda';
import { configToEnv, DEFAULT_CONFIG, INLINE_BODY_MAX_BYTES, resolveConfig, RESOURCE_ENV } from '../../lambdas/config/config';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { EventBridgePublisher } from '../../lambdas/adapters/eventbridge-publisher';
import { S3BodyStore, s3ClientConfig } from '../../lambdas/adapters/s3-body-store';
import { secretsManagerProvider } from '../../lambdas/adapters/secrets-manager-provider';
import { BodyNotFoundError, readPointedBody } from '../../lambdas/core/body-store';
import { decodeEnvelope, encodeEnvelope } from '../../lambdas/core/envelope';
import { createConsumerHandler } from '../../lambdas/consumer/consumer';
import { createReceiverHandlerFromEnv } from '../../lambdas/receiver/receiver';
import { LocalIam } from '../../local/aws/authorization';
import { startLocalS3, type LocalS3 } from '../../local/aws/s3';
import { largeNotification } from '../../local/sample-events';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { captureOutput } from '../support/capture-output';
import { startDynalite, type LocalDynamo } from '../support/dynalite';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalEventBridge, type LocalEventBridge } from '../../local/aws/eventbridge';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startLocalSqs, type LocalSqs } from '../../local/aws/sqs';

const SECRET = 'large-bodies-signing-secret';
const BUCKET = 'makini-bodies-test';
const RECEIVER_KEY = 'LOCALRECEIVER';
const CONSUMER_KEY = 'LOCALCONSUMER';
const sign = (b: Buffer) => `sha256=${createHmac('sha256', SECRET).update(b).digest('hex')}`;
const lambdaContext = { functionName: 'receiver', awsRequestId: 'lambda-req', getRemainingTimeInMillis: () => 5000 } as unknown as Context;
const objects = `arn:aws:s3:::${BUCKET}/bodies/*`;

const SECRET_ID = 'makini/webhook-signing-secret';
let sqs: LocalSqs;
let sm: LocalSecretsManager;
let bus: LocalEventBridge;
/** The message bodies the receiver enqueued, in order. */
const messages = () => sqs.peek('webhooks');
let s3: LocalS3;
let dynamo: LocalDynamo;
let iam: LocalIam;
const savedEnv = { ...process.env };

beforeEach(async () => {
  iam = new LocalIam('123456789012');
  // As the stack grants them: the receiver may only put, the consumer only get, under bodies/.
  iam.addRole(RECEIVER_KEY, { arn: 'arn:aws:iam::123456789012:role/receiver', sessionName: 'receiver', policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: objects }] }] });
  iam.addRole(CONSUMER_KEY, { arn: 'arn:aws:iam::123456789012:role/consumer', sessionName: 'consumer', policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: objects }] }] });
  sqs = await startLocalSqs({ queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }] });
  sm = await startLocalSecretsManager();
  bus = await startLocalEventBridge();
  const smClient = new SecretsManagerClient({ endpoint: sm.url, region: 'us-east-1', maxAttempts: 1 });
  await smClient.send(new CreateSecretCommand({ Name: SECRET_ID, SecretString: SECRET }));
  smClient.destroy();
  s3 = await startLocalS3({ buckets: [BUCKET], fault: () => fault, authorize: ({ accessKeyId, action, resource }) => iam.authorizeCall(accessKeyId, [{ action, resource }]) });
  dynamo = await startDynalite();
  fault = undefined;
  Object.assign(process.env, { AWS_ENDPOINT_URL_SQS: sqs.url, AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url, AWS_ENDPOINT_URL_S3: s3.url, AWS_REGION: 'us-east-1' });
});
let fault: 'unavailable' | undefined;

afterEach(async () => {
  process.env = { ...savedEnv };
  await Promise.all([sqs.close(), sm.close(), bus.close(), s3.close(), dynamo.close()]);
});

/** The production receiver, wired from the environment as in Lambda, signing its calls as its role. */
function receiver() {
  const config = resolveConfig({ awsRequestTimeoutMs: 2_000, awsMaxAttempts: 1 });
  const handler = createReceiverHandlerFromEnv(
    { ...process.env, AWS_ACCESS_KEY_ID: RECEIVER_KEY, AWS_SECRET_ACCESS_KEY: 'local', ...configToEnv(config), [RESOURCE_ENV.queueUrl]: sqs.queueUrl('webhooks'), [RESOURCE_ENV.signingSecretId]: SECRET_ID, [RESOURCE_ENV.bodyBucket]: BUCKET },
    secretsManagerProvider,
  );
  return async (body: Buffer) => {
    const { result, output } = await captureOutput(() => handler(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body) } }), lambdaContext));
    return { status: result.statusCode, json: JSON.parse(result.body ?? '{}'), output };
  };
}

function consumer() {
  const store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000 });
  const credentials = { accessKeyId: CONSUMER_KEY, secretAccessKey: 'local' };
  const bodies = new S3BodyStore(new S3Client(s3ClientConfig(process.env, { region: 'us-east-1', credentials, endpoint: s3.url })), BUCKET);
  const publisher = new EventBridgePublisher(new EventBridgeClient({ endpoint: bus.url, region: 'us-east-1', credentials, maxAttempts: 1 }), 'makini-bus');
  const handle = createConsumerHandler({ store, fields: DEFAULT_CONFIG, publisher, bodies, logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }), metrics: new Metrics({ namespace: 'Test', serviceName: 'consumer' }) });
  return { store, bodies, handle };
}
const sqsRecord = (body: string, messageId = 'msg-1') => ({ messageId, body, eventSource: 'aws:sqs', attributes: { ApproximateReceiveCount: '1' } }) as unknown as SQSRecord;

describe('bodies above the inline limit, through the local S3 endpoint', () => {
  it('stores the verified body in the bucket under its hash and enqueues only the pointer', async () => {
    const body = largeNotification(INLINE_BODY_MAX_BYTES + 50_000, 'evt_large_1');
    const response = await receiver()(body);
    expect(response.status).toBe(200);
    const sha256 = createHash('sha256').update(body).digest('hex');
    expect(s3.object(BUCKET, `bodies/${sha256}`)?.equals(body)).toBe(true);
    expect(messages()).toHaveLength(1);
    expect(messages()[0]!.length).toBeLessThan(2_000);
    const { envelope, bodyRef } = decodeEnvelope(messages()[0]!);
    expect(bodyRef).toEqual({ key: `bodies/${sha256}`, bytes: body.length, sha256 });
    expect(envelope.body).toBe('');
  });

  it('keeps a body at the inline limit in the message, and never calls S3 for it', async () => {
    const body = largeNotification(INLINE_BODY_MAX_BYTES - 100, 'evt_large_1');
    expect((await receiver()(body)).status).toBe(200);
    expect(decodeEnvelope(messages()[0]!).body.equals(body)).toBe(true);
    expect(s3.calls.PutObject ?? 0).toBe(0);
  });

  it('answers 503 with Retry-After and enqueues nothing when S3 refuses the body', async () => {
    fault = 'unavailable';
    const response = await receiver()(largeNotification(INLINE_BODY_MAX_BYTES + 1, 'evt_large_1'));
    expect(response.status).toBe(503);
    expect(sqs.calls.SendMessage ?? 0).toBe(0);
    expect(sqs.depth('webhooks')).toBe(0);
    expect(response.output).toMatch(/"dependency": ?"bodies"/);
    expect(response.output).toMatch(/BodyStoreFailed/);
  });

  it('processes the pointed-to body: the history keeps the pointer, the bus event carries bucket, key and size instead of the fields', async () => {
    const body = largeNotification(400_000, 'evt_large_1');
    expect((await receiver()(body)).status).toBe(200);
    const { store, bodies, handle } = consumer();
    expect(await handle({ Records: [sqsRecord(messages()[0]!)] })).toEqual({ batchItemFailures: [] });

    const sha256 = createHash('sha256').update(body).digest('hex');
    const stored = await store.getWebhook('evt_large_1');
    expect(stored).toMatchObject({ status: 'DONE', type: 'assets.updated', connectionId: 'conn_big', bodyRef: { key: `bodies/${sha256}`, bytes: body.length, sha256 } });
    expect(stored!.body).toHaveLength(0);
    expect((await readPointedBody(bodies, stored!.bodyRef!)).equals(body)).toBe(true);

    expect(bus.events()).toHaveLength(1);
    const detail = bus.events()[0]!.detail as { bodyRef: unknown; event: { ids?: unknown } };
    expect(bus.events()[0]!['detail-type']).toBe('assets.updated');
    expect(detail.bodyRef).toEqual({ bucket: BUCKET, key: `bodies/${sha256}`, bytes: body.length, sha256 });
    expect(detail).toMatchObject({ dataOmitted: true, event: { webhookId: 'evt_large_1', entity: 'assets', action: 'updated', data: {} } });
    expect(detail.event.ids).toBeUndefined();
    expect(Buffer.byteLength(JSON.stringify(detail))).toBeLessThan(4_000); // the Detail as sent (compact JSON)
  });

  it('sends a body under the line through the bucket when its ids, as strings on the bus, would pass it; the event is published with its pointer', async () => {
    // 70,000 numeric ids: a 140 KB body, and 280 KB of ids on the bus (the local bus refuses a call over 256 KB, as AWS does).
    const body = Buffer.from(JSON.stringify({ event: 'assets.updated', body: Array.from({ length: 70_000 }, (_, i) => i % 10) }));
    expect(body.length).toBeLessThan(INLINE_BODY_MAX_BYTES);
    const response = await receiver()(body);
    expect(response.status).toBe(200);
    const { bodyRef } = decodeEnvelope(messages()[0]!);
    expect(bodyRef?.bytes).toBe(body.length);
    const { store, handle } = consumer();
    expect(await handle({ Records: [sqsRecord(messages()[0]!)] })).toEqual({ batchItemFailures: [] });
    expect(bus.events()).toHaveLength(1);
    expect(bus.events()[0]!.detail).toMatchObject({ dataOmitted: true, bodyRef: { bucket: BUCKET, ...bodyRef } });
    const { webhookId } = (bus.events()[0]!.detail as { event: { webhookId: string } }).event;
    expect((await store.getWebhook(webhookId))?.status).toBe('DONE');
  });

  it('publishes a message an earlier version queued inline, whose ids grew past the bus limit, without its ids (marked), rather than failing it on every try', async () => {
    const body = Buffer.from(JSON.stringify({ event: 'assets.updated', body: Array.from({ length: 70_000 }, (_, i) => i % 10) }));
    const message = encodeEnvelope({ webhookId: 'evt_grown', receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r1' }, body);
    const { store, handle } = consumer();
    expect(await handle({ Records: [sqsRecord(message)] })).toEqual({ batchItemFailures: [] });
    expect(bus.events()).toHaveLength(1);
    const detail = bus.events()[0]!.detail as { event: Record<string, unknown> };
    expect(detail).toMatchObject({ dataOmitted: true, idsOmitted: true, event: { webhookId: 'evt_grown', entity: 'assets', action: 'updated', data: {} } });
    expect(detail.event.ids).toBeUndefined();
    const stored = await store.getWebhook('evt_grown');
    expect(stored?.status).toBe('DONE');
    expect(Buffer.from(stored!.body).equals(body)).toBe(true); // the history keeps what the bus could not carry
  });

  it('fails the record (SQS retries it) when the stored body is not the one the pointer names, or is gone', async () => {
    const body = largeNotification(INLINE_BODY_MAX_BYTES + 10, 'evt_large_1');
    expect((await receiver()(body)).status).toBe(200);
    const { bodyRef } = decodeEnvelope(messages()[0]!);
    const tampered = messages()[0]!.replace(bodyRef!.sha256, 'f'.repeat(64)).replace(bodyRef!.sha256, 'f'.repeat(64));
    const { store, bodies, handle } = consumer();
    expect(await handle({ Records: [sqsRecord(tampered, 'msg-gone')] })).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-gone' }] });
    await expect(bodies.get(`bodies/${'f'.repeat(64)}`)).rejects.toBeInstanceOf(BodyNotFoundError);
    const resized = messages()[0]!.replace(`"bytes":${body.length}`, `"bytes":${body.length - 1}`);
    expect(await handle({ Records: [sqsRecord(resized, 'msg-resized')] })).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-resized' }] });
    expect(bus.events()).toHaveLength(0);
    expect((await store.getWebhook('evt_large_1'))?.status).not.toBe('DONE');
  });

  it("refuses what the roles do not grant: the consumer cannot write bodies, the receiver cannot read them", async () => {
    const body = largeNotification(INLINE_BODY_MAX_BYTES + 10, 'evt_large_1');
    expect((await receiver()(body)).status).toBe(200);
    const { bodies } = consumer();
    await expect(bodies.put('bodies/x', Buffer.from('x'))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    const asReceiver = new S3BodyStore(new S3Client(s3ClientConfig(process.env, { region: 'us-east-1', endpoint: s3.url, credentials: { accessKeyId: RECEIVER_KEY, secretAccessKey: 'local' } })), BUCKET);
    await expect(asReceiver.get(decodeEnvelope(messages()[0]!).bodyRef!.key)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(iam.denials).toHaveLength(2);
  });
});
