import { createHmac } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { configToEnv, resolveConfig, RESOURCE_ENV, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { secretsManagerProvider } from '../../lambdas/adapters/secrets-manager-provider';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { createReceiverHandlerFromEnv } from '../../lambdas/receiver/receiver';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { captureOutput } from '../support/capture-output';
import { SM_GET, SQS_SEND, startFakeAws, type FakeAws } from '../support/fake-aws';

const SECRET = 'integration-signing-secret-7c1d';
const body = JSON.stringify({ id: 'evt_int_1', type: 'connection.status_changed', connection_id: 'conn_1', data: { status: 'offline' } });
const sign = (b: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(b).digest('hex')}`;
const lambdaContext = { functionName: 'receiver', awsRequestId: 'lambda-req', getRemainingTimeInMillis: () => 5000 } as unknown as Context;

let aws: FakeAws;
const savedEnv = { ...process.env };

beforeEach(async () => {
  aws = await startFakeAws(SECRET);
  process.env.AWS_ENDPOINT_URL_SQS = aws.url;
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = aws.url;
});

afterEach(async () => {
  process.env = { ...savedEnv };
  await aws.close();
});

/** The production handler, wired from the environment exactly as in Lambda. */
function receiver(overrides: Partial<MakiniWebhookConfig> = {}) {
  const config = resolveConfig({ awsRequestTimeoutMs: 300, ...overrides });
  const handler = createReceiverHandlerFromEnv({
    ...process.env,
    ...configToEnv(config),
    [RESOURCE_ENV.queueUrl]: `${aws.url}/123456789012/webhooks`,
    [RESOURCE_ENV.signingSecretId]: 'makini/webhook-signing-secret',
  }, secretsManagerProvider);
  return async (b: string, headers: Record<string, string>) => {
    const { result, output } = await captureOutput(() => handler(apiGatewayEvent({ body: b, headers }), lambdaContext));
    return { status: result.statusCode, json: JSON.parse(result.body ?? '{}'), headers: result.headers ?? {}, output };
  };
}

describe('receiver against AWS-compatible endpoints over loopback HTTP', () => {
  it('stores the webhook in SQS before answering 200, with 1 SQS call and no Secrets Manager call when warm', async () => {
    const post = receiver();
    const first = await post(body, { 'x-makini-signature': sign(body) });
    expect(first.status).toBe(200);
    expect(aws.messages).toHaveLength(1);
    expect(decodeEnvelope(aws.messages[0]).body.toString()).toBe(body);

    const second = await post(body, { 'x-makini-signature': sign(body) });
    expect(second.status).toBe(200);
    expect(aws.calls[SQS_SEND]).toBe(2);
    expect(aws.calls[SM_GET]).toBe(1);
  });

  it('publishes EMF metrics through the middleware', async () => {
    const post = receiver({ metricsNamespace: 'IntegrationTest' });
    // A webhook that goes well writes no metric here (the consumer counts it): a forged one does.
    const { output } = await post(body, { 'x-makini-signature': sign(body, 'forged') });
    expect(output).toContain('"Namespace":"IntegrationTest"');
    expect(output).toContain('"SignatureRejected"');
  });

  it('retries a transient SQS failure within the budget and answers 200', async () => {
    aws.faults[SQS_SEND] = ['server-error'];
    const res = await receiver()(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(200);
    expect(aws.calls[SQS_SEND]).toBe(2);
    expect(aws.messages).toHaveLength(1);
  });

  it('answers 503 with Retry-After when SQS keeps failing, and counts EnqueueFailed', async () => {
    aws.alwaysFail[SQS_SEND] = 'server-error';
    const res = await receiver({ awsMaxAttempts: 2 })(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(aws.calls[SQS_SEND]).toBe(2);
    expect(res.output).toContain('"EnqueueFailed"');
  });

  it('answers 503 when SQS hangs, because every call has a timeout', async () => {
    aws.alwaysFail[SQS_SEND] = 'hang';
    const res = await receiver({ awsMaxAttempts: 1, awsRequestTimeoutMs: 200 })(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(503);
    expect(aws.messages).toHaveLength(0);
  });

  it('answers 503 when Secrets Manager is unreachable on a cold start', async () => {
    aws.alwaysFail[SM_GET] = 'server-error';
    const res = await receiver()(body, { 'x-makini-signature': sign(body) });
    expect(res.status).toBe(503);
    expect(aws.calls[SQS_SEND]).toBeUndefined();
  });

  it('answers 503 when the secret does not exist, so nothing is lost while it is being created', async () => {
    aws.alwaysFail[SM_GET] = 'not-found';
    expect((await receiver()(body, { 'x-makini-signature': sign(body) })).status).toBe(503);
  });

  it('keeps verifying with the last good secret when Secrets Manager fails after the cache expired', async () => {
    const post = receiver({ secretCacheSeconds: 0 });
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);
    aws.alwaysFail[SM_GET] = 'server-error';
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);
  });

  it('accepts a rotated secret without a redeploy, and rate-limits further refreshes', async () => {
    const post = receiver();
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);

    aws.secretString = JSON.stringify({ current: 'rotated-secret-2', previous: SECRET });
    expect((await post(body, { 'x-makini-signature': sign(body, 'rotated-secret-2') })).status).toBe(200);
    expect(aws.calls[SM_GET]).toBe(2);
    // The previous secret still verifies during the rotation window.
    expect((await post(body, { 'x-makini-signature': sign(body) })).status).toBe(200);

    // A burst of forgeries triggers no further Secrets Manager calls within the refresh interval.
    for (let i = 0; i < 5; i++) expect((await post(body, { 'x-makini-signature': sign(body, `forged-${i}`) })).status).toBe(401);
    expect(aws.calls[SM_GET]).toBe(2);
  });

  it('never writes the secret or the signature to the logs, on any path', async () => {
    const outputs: string[] = [];
    const post = receiver({ logLevel: 'DEBUG' });
    const signature = sign(body);
    outputs.push((await post(body, { 'x-makini-signature': signature })).output);
    outputs.push((await post(body, { 'x-makini-signature': sign(body, 'forged') })).output);
    aws.alwaysFail[SQS_SEND] = 'server-error';
    outputs.push((await post(body, { 'x-makini-signature': signature })).output);
    aws.alwaysFail[SM_GET] = 'server-error';
    outputs.push((await receiver()(body, { 'x-makini-signature': signature })).output);
    const all = outputs.join('\n');
    expect(all).toContain('dependency unavailable');
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(signature.slice('sha256='.length));
    expect(all).not.toContain('conn_1');
  });
});
