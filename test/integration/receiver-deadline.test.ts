/**
 * The receiver answers inside its own Lambda timeout in every configuration the config accepts: a
 * request whose cached secrets do not match looks for a rotated secret (a second Secrets Manager
 * call) only within the time its writes leave (`receiverWritesReserveMs`). Otherwise Lambda would
 * end it, and API Gateway would answer a bare 500 instead of the receiver's 503 with Retry-After.
 * The production handler with the real SDK clients, against the local Secrets Manager and SQS on
 * 127.0.0.1 with injected hangs.
 */
import { createHmac } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { configToEnv, receiverWritesReserveMs, resolveConfig, RESOURCE_ENV, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { secretsManagerProvider } from '../../lambdas/adapters/secrets-manager-provider';
import { createReceiverHandlerFromEnv } from '../../lambdas/receiver/receiver';
import type { Fault } from '../../local/aws/json-endpoint';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startLocalSqs, type LocalSqs } from '../../local/aws/sqs';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { captureOutput } from '../support/capture-output';

const SECRET_ID = 'makini/webhook-signing-secret';
const OLD = 'old-signing-secret';
const NEW = 'new-signing-secret';
const body = JSON.stringify({ event: 'assets.updated', body: ['16c69269-0432-4382-b48f-eb3538b4b3d7'] });
const sign = (secret: string) => createHmac('sha256', secret).update(body).digest('base64');

let sqs: LocalSqs;
let sm: LocalSecretsManager;
let smClient: SecretsManagerClient;
const faults: Record<string, Fault[]> = {};
const always: Record<string, Fault | undefined> = {};
const fault = (operation: string): Fault | undefined => faults[operation]?.shift() ?? always[operation];
const savedEnv = { ...process.env };

beforeEach(async () => {
  for (const key of Object.keys(faults)) delete faults[key];
  for (const key of Object.keys(always)) delete always[key];
  sqs = await startLocalSqs({ queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }], fault });
  sm = await startLocalSecretsManager({ fault });
  smClient = new SecretsManagerClient({ endpoint: sm.url, maxAttempts: 1 });
  await smClient.send(new CreateSecretCommand({ Name: SECRET_ID, SecretString: OLD }));
  process.env.AWS_ENDPOINT_URL_SQS = sqs.url;
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.url;
});

afterEach(async () => {
  process.env = { ...savedEnv };
  smClient.destroy();
  await Promise.all([sqs.close(), sm.close()]);
});

/** The production handler, called as Lambda calls it: the time left runs down from the function's timeout. */
function receiver(config: MakiniWebhookConfig) {
  const handler = createReceiverHandlerFromEnv({ ...process.env, ...configToEnv(config), [RESOURCE_ENV.queueUrl]: sqs.queueUrl('webhooks'), [RESOURCE_ENV.signingSecretId]: SECRET_ID }, secretsManagerProvider);
  return async (signature: string) => {
    const deadline = Date.now() + config.receiverTimeoutSeconds * 1000;
    const context = { functionName: 'receiver', awsRequestId: 'lambda-req', getRemainingTimeInMillis: () => deadline - Date.now() } as unknown as Context;
    const started = Date.now();
    const { result, output } = await captureOutput(() => handler(apiGatewayEvent({ body, headers: { 'X-Webhook-Signature': signature } }), context));
    return { status: result.statusCode, retryAfter: result.headers?.['retry-after'], ms: Date.now() - started, output };
  };
}

describe('the receiver within its timeout', () => {
  // The tightest the config accepts: a fetch and the send (bodies up to 30,000 bytes never go to the
  // body store), 2 attempts of 1 s each, and the 1 s margin.
  const tight = () => resolveConfig({ receiverTimeoutSeconds: 5, awsRequestTimeoutMs: 1_000, awsMaxAttempts: 2, maxBodyBytes: 30_000, secretCacheSeconds: 300 });

  it('answers 503, rather than look for a rotated secret with no time left for it, when Secrets Manager browns out during a rotation', async () => {
    const config = { ...tight(), secretCacheSeconds: 0 };
    expect(receiverWritesReserveMs(config)).toBe(3_000);
    const post = receiver(config);
    expect((await post(sign(OLD))).status).toBe(200); // warm: OLD is the last good value

    // Rotated; then every fetch of the secret hangs twice before one gets through, and SQS hangs.
    await smClient.send(new PutSecretValueCommand({ SecretId: SECRET_ID, SecretString: NEW }));
    faults.GetSecretValue = ['hang', 'hang', 'hang'];
    always.SendMessage = 'hang';
    const answer = await post(sign(NEW));
    // The fetch timed out (2 s) and was answered with OLD; a second fetch and the send could take 4 s more.
    expect({ status: answer.status, retryAfter: answer.retryAfter, inTime: answer.ms < config.receiverTimeoutSeconds * 1000 }).toEqual({ status: 503, retryAfter: '30', inTime: true });
    expect(answer.output).toMatch(/no time is left to look for a rotated secret/);
    expect(faults.GetSecretValue).toEqual(['hang']); // the fetch's two attempts hung; no second fetch was made
  }, 20_000);

  it('still looks, in the tightest configuration, after a first read served from the cache: a forgery gets 401, a rotation 200', async () => {
    const forgeries = receiver(tight());
    expect((await forgeries(sign(OLD))).status).toBe(200); // OLD cached for 5 minutes
    expect((await forgeries(sign('forged'))).status).toBe(401); // looked (2 s were left for it), found OLD again
    const rotation = receiver(tight());
    expect((await rotation(sign(OLD))).status).toBe(200);
    await smClient.send(new PutSecretValueCommand({ SecretId: SECRET_ID, SecretString: NEW }));
    expect((await rotation(sign(NEW))).status).toBe(200); // the cache still says OLD: looked, and found NEW
    expect(sm.calls.GetSecretValue).toBe(4); // each receiver's first read, and each one's look
  }, 20_000);
});
