/**
 * The receiver answers inside its own Lambda timeout in every configuration the config accepts: a
 * request whose cached secrets do not match looks for a rotated secret (a second Secrets Manager
 * call) only if that call and the writes after it can still take their worst in the time left
 * (`receiverRefreshReserveMs`). Otherwise Lambda would end it, and API Gateway would answer a bare
 * 500 instead of the receiver's 503 with Retry-After. The production handler with the real SDK
 * clients, against the local Secrets Manager and SQS on 127.0.0.1 with injected hangs.
 */
import { createHmac } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { configToEnv, receiverRefreshReserveMs, resolveConfig, RESOURCE_ENV } from '../../lambdas/config/config';
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

describe('the receiver within its timeout', () => {
  it('answers 503 at once, rather than look for a rotated secret it has no time left for, when Secrets Manager browns out during a rotation', async () => {
    // The tightest the config accepts: a fetch and the send, 2 attempts of 1 s each, and the 1 s margin.
    const config = resolveConfig({ receiverTimeoutSeconds: 5, awsRequestTimeoutMs: 1_000, awsMaxAttempts: 2, maxBodyBytes: 200_000, secretCacheSeconds: 0 });
    expect(receiverRefreshReserveMs(config)).toBe(5_000);
    const handler = createReceiverHandlerFromEnv({ ...process.env, ...configToEnv(config), [RESOURCE_ENV.queueUrl]: sqs.queueUrl('webhooks'), [RESOURCE_ENV.signingSecretId]: SECRET_ID }, secretsManagerProvider);
    const post = async (signature: string) => {
      // Lambda's context for a fresh invocation: the time left runs down from the function's timeout.
      const deadline = Date.now() + config.receiverTimeoutSeconds * 1000;
      const context = { functionName: 'receiver', awsRequestId: 'lambda-req', getRemainingTimeInMillis: () => deadline - Date.now() } as unknown as Context;
      const started = Date.now();
      const { result, output } = await captureOutput(() => handler(apiGatewayEvent({ body, headers: { 'X-Webhook-Signature': signature } }), context));
      return { status: result.statusCode, retryAfter: result.headers?.['retry-after'], ms: Date.now() - started, output };
    };
    expect((await post(sign(OLD))).status).toBe(200); // warm: OLD is the last good value

    // Rotated; then every fetch of the secret hangs twice before one gets through, and SQS hangs.
    await smClient.send(new PutSecretValueCommand({ SecretId: SECRET_ID, SecretString: NEW }));
    faults.GetSecretValue = ['hang', 'hang', 'hang'];
    always.SendMessage = 'hang';
    const answer = await post(sign(NEW));
    // The fetch timed out (2 s) and was answered with OLD; a second fetch and the send could take 4 s more.
    expect({ status: answer.status, retryAfter: answer.retryAfter, inTime: answer.ms < config.receiverTimeoutSeconds * 1000 }).toEqual({ status: 503, retryAfter: '30', inTime: true });
    expect(answer.output).toMatch(/too little time is left to look for a rotated secret/);
    expect(faults.GetSecretValue).toEqual(['hang']); // the fetch's two attempts hung; no second fetch was made
  }, 20_000);
});
