import { createHmac } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { configToEnv, receiverWritesReserveMs, resolveConfig, RESOURCE_ENV, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { secretsManagerProvider } from '../../lambdas/adapters/secrets-manager-provider';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { createReceiverHandlerFromEnv } from '../../lambdas/receiver/receiver';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { captureOutput } from '../support/capture-output';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Fault } from '../../local/aws/json-endpoint';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startLocalSqs, type LocalSqs } from '../../local/aws/sqs';

const SECRET = 'integration-signing-secret-7c1d';
const body = JSON.stringify({ id: 'evt_int_1', type: 'connection.status_changed', connection_id: 'conn_1', data: { status: 'offline' } });
const sign = (b: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(b).digest('hex')}`;
const lambdaContext = { functionName: 'receiver', awsRequestId: 'lambda-req', getRemainingTimeInMillis: () => 5000 } as unknown as Context;

const SECRET_ID = 'makini/webhook-signing-secret';
const SQS_SEND = 'SendMessage';
const SM_GET = 'GetSecretValue';

let sqs: LocalSqs;
let sm: LocalSecretsManager;
let smClient: SecretsManagerClient;
/** Calls per operation, faulted or not (the endpoints' own `calls` count only those answered). */
let calls: Record<string, number>;
/** Faults for the next calls of an operation, in order; then `alwaysFail`; then none. */
let faults: Record<string, Fault[]>;
let alwaysFail: Record<string, Fault | undefined>;
const fault = (operation: string): Fault | undefined => {
  calls[operation] = (calls[operation] ?? 0) + 1;
  return faults[operation]?.shift() ?? alwaysFail[operation];
};
const messages = () => sqs.peek('webhooks');
const savedEnv = { ...process.env };

beforeEach(async () => {
  calls = {};
  faults = {};
  alwaysFail = {};
  sqs = await startLocalSqs({ queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }], fault });
  sm = await startLocalSecretsManager({ fault });
  smClient = new SecretsManagerClient({ endpoint: sm.url, maxAttempts: 1 });
  await smClient.send(new CreateSecretCommand({ Name: SECRET_ID, SecretString: SECRET }));
  calls = {}; // seeding the secret is not the receiver's call
  process.env.AWS_ENDPOINT_URL_SQS = sqs.url;
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.url;
});

afterEach(async () => {
  process.env = { ...savedEnv };
  smClient.destroy();
  await Promise.all([sqs.close(), sm.close()]);
});

/**
 * The production handler, wired from the environment exactly as in Lambda. With `clock`, the time its
 * context reports left runs down from the function's timeout, as Lambda's does (else 5 s, always).
 */
function receiver(overrides: Partial<MakiniWebhookConfig> = {}, secretId = SECRET_ID, { clock = false } = {}) {
  const config = resolveConfig({ awsRequestTimeoutMs: 300, ...overrides });
  const handler = createReceiverHandlerFromEnv({
    ...process.env,
    ...configToEnv(config),
    [RESOURCE_ENV.queueUrl]: sqs.queueUrl('webhooks'),
    [RESOURCE_ENV.signingSecretId]: secretId,
  }, secretsManagerProvider);
  return async (b: string, headers: Record<string, string>) => {
    const deadline = Date.now() + config.receiverTimeoutSeconds * 1000;
    const context = clock ? ({ ...lambdaContext, getRemainingTimeInMillis: () => deadline - Date.now() } as Context) : lambdaContext;
    const started = Date.now();
    const { result, output } = await captureOutput(() => handler(apiGatewayEvent({ body: b, headers }), context));
    return { status: result.statusCode, json: JSON.parse(result.body ?? '{}'), headers: result.headers ?? {}, output, ms: Date.now() - started };
  };
}

describe('receiver against AWS-compatible endpoints over loopback HTTP', () => {
  it('stores the webhook in SQS before answering 200, with 1 SQS call and no Secrets Manager call when warm', async () => {
    const post = receiver();
    const first = await post(body, { 'x-makini-signature': sign(body) });
    expect(first.status).toBe(200);
    expect(messages()).toHaveLength(1);
    expect(decodeEnvelope(messages()[0]).body.toString()).toBe(body);

    const second = await post(body, { 'x-makini-signature': sign(body) });
    expect(second.status).toBe(200);
    expect(calls[SQS_SEND]).toBe(2);
    expect(calls[SM_GET]).toBe(1);
  });

  it('publishes EMF metrics through the middleware', async () => {
    const post = receiver({ metricsNamespace: 'IntegrationTest' });
    // A webhook that goes well writes no metric here (the consumer counts it): a forged one does.
    const { output } = await post(body, { 'x-makini-signature': sign(body, 'forged') });
    expect(output).toContain('"Namespace":"IntegrationTest"');
    expect(output).toContain('"SignatureRejected"');
  });

  it('retries a transient SQS failure within the budget and answers 200', async () => {
    faults[SQS_SEND] = ['unavailable'];
    const res = await receiver()(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(200);
    expect(calls[SQS_SEND]).toBe(2);
    expect(messages()).toHaveLength(1);
  });

  it('answers 503 with Retry-After when SQS keeps failing, and counts EnqueueFailed', async () => {
    alwaysFail[SQS_SEND] = 'unavailable';
    const res = await receiver({ awsMaxAttempts: 2 })(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(calls[SQS_SEND]).toBe(2);
    expect(res.output).toContain('"EnqueueFailed"');
  });

  it('answers 503 when SQS hangs, because every call has a timeout', async () => {
    alwaysFail[SQS_SEND] = 'hang';
    const res = await receiver({ awsMaxAttempts: 1, awsRequestTimeoutMs: 200 })(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(503);
    expect(messages()).toHaveLength(0);
  });

  it('answers 503 when Secrets Manager is unreachable on a cold start', async () => {
    alwaysFail[SM_GET] = 'unavailable';
    const res = await receiver()(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(503);
    expect(calls[SQS_SEND]).toBeUndefined();
  });

  it('answers 503 when the secret does not exist, so nothing is lost while it is being created', async () => {
    // No such secret: the local Secrets Manager answers ResourceNotFoundException.
    expect((await receiver({}, 'makini/not-created-yet')(body, { 'x-makini-signature': sign(body) })).status).toBe(503);
    expect(calls[SM_GET]).toBeGreaterThanOrEqual(1);
    expect(calls[SQS_SEND]).toBeUndefined();
  });

  it('keeps verifying with the last good secret when Secrets Manager fails after the cache expired', async () => {
    const post = receiver({ secretCacheSeconds: 0 });
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);
    alwaysFail[SM_GET] = 'unavailable';
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);
  });

  it('accepts a rotated secret without a redeploy, and rate-limits further refreshes', async () => {
    const post = receiver();
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);

    await smClient.send(new PutSecretValueCommand({ SecretId: SECRET_ID, SecretString: JSON.stringify({ current: 'rotated-secret-2', previous: SECRET }) }));
    expect((await post(body, { 'x-makini-signature': sign(body, 'rotated-secret-2') })).status).toBe(200);
    expect(calls[SM_GET]).toBe(2);
    // The previous secret still verifies during the rotation window.
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);

    // A burst of forgeries triggers no further Secrets Manager calls within the refresh interval.
    for (let i = 0; i < 5; i++) expect((await post(body, { 'x-makini-signature': sign(body, `forged-${i}`) })).status).toBe(401);
    expect(calls[SM_GET]).toBe(2);
  });

  // The tightest timeout the config accepts for a fetch and the send (bodies up to 30,000 bytes never
  // go to the body bucket), 2 attempts of 1 s each, and the 1 s margin; the writes keep 3 s of it.
  const tight = { receiverTimeoutSeconds: 5, awsRequestTimeoutMs: 1_000, awsMaxAttempts: 2, maxBodyBytes: 30_000 };

  it('answers 503 within its timeout, rather than look for a rotated secret with no time left for it, when Secrets Manager browns out during a rotation', async () => {
    expect(receiverWritesReserveMs(resolveConfig(tight))).toBe(3_000);
    const post = receiver({ ...tight, secretCacheSeconds: 0 }, SECRET_ID, { clock: true });
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200); // SECRET is the last good value
    // Rotated; then every fetch of the secret hangs twice before one gets through, and SQS hangs.
    await smClient.send(new PutSecretValueCommand({ SecretId: SECRET_ID, SecretString: 'rotated-secret-2' }));
    faults[SM_GET] = ['hang', 'hang', 'hang'];
    alwaysFail[SQS_SEND] = 'hang';
    const answer = await post(body, { 'x-makini-signature': sign(body, 'rotated-secret-2') });
    // The fetch timed out (2 s) and was answered with SECRET; a second fetch and the send could take 4 s more.
    expect({ status: answer.status, retryAfter: answer.headers['retry-after'], inTime: answer.ms < tight.receiverTimeoutSeconds * 1000 }).toEqual({ status: 503, retryAfter: '30', inTime: true });
    expect(answer.output).toMatch(/no time is left to look for a rotated secret/);
    expect(faults[SM_GET]).toEqual(['hang']); // the fetch's two attempts hung; no second fetch was made
  }, 20_000);

  it('still looks in the tightest configuration after a first read served from the cache: a forgery gets 401, a rotation 200', async () => {
    const forgeries = receiver({ ...tight, secretCacheSeconds: 300 }, SECRET_ID, { clock: true });
    expect((await forgeries(body, { 'x-makini-signature': sign(body) })).status).toBe(200);
    expect((await forgeries(body, { 'x-makini-signature': sign(body, 'forged') })).status).toBe(401); // looked (2 s were left for it)
    const rotation = receiver({ ...tight, secretCacheSeconds: 300 }, SECRET_ID, { clock: true });
    expect((await rotation(body, { 'x-makini-signature': sign(body) })).status).toBe(200);
    await smClient.send(new PutSecretValueCommand({ SecretId: SECRET_ID, SecretString: 'rotated-secret-2' }));
    expect((await rotation(body, { 'x-makini-signature': sign(body, 'rotated-secret-2') })).status).toBe(200); // the cache said SECRET: looked, found the new one
    expect(calls[SM_GET]).toBe(4); // each receiver's first read, and each one's look
  }, 20_000);

  it('never writes the secret or the signature to the logs, on any path', async () => {
    const outputs: string[] = [];
    const post = receiver({ logLevel: 'DEBUG' });
    const signature = sign(body);
    outputs.push((await post(body, { 'x-makini-signature': signature })).output);
    outputs.push((await post(body, { 'x-makini-signature': sign(body, 'forged') })).output);
    alwaysFail[SQS_SEND] = 'unavailable';
    outputs.push((await post(body, { 'x-makini-signature': signature })).output);
    alwaysFail[SM_GET] = 'unavailable';
    outputs.push((await receiver()(body, { 'x-makini-signature': signature })).output);
    const all = outputs.join('\n');
    expect(all).toContain('dependency unavailable');
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(signature.slice('sha256='.length));
    expect(all).not.toContain('conn_1');
  });
});
