/**
 * The bundles `cdk synth` builds (ESM, SDK inside, the Lambda-only credential provider) run: each is
 * imported by a fresh Node process, as Lambda imports it, and its handler is called against the
 * local AWS endpoints. A bundling setting that breaks loading or an SDK call fails here, not in AWS.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startLocalEventBridge, type LocalEventBridge } from '../../local/aws/eventbridge';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startLocalSqs, type LocalSqs } from '../../local/aws/sqs';
import { toRecord } from '../../local/stack';
import { RESOURCE_ENV } from '../../lambdas/config/config';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { startDynalite, type LocalDynamo } from '../support/dynalite';
import { bundleResult, invokeBundleScript, synthLambdaBundles, type LambdaBundle } from '../support/lambda-bundles';

const run = promisify(execFile);
const SECRET = 'bundle-test-signing-secret';
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'bundle', AWS_SECRET_ACCESS_KEY: 'bundle', AWS_SESSION_TOKEN: 'bundle' };

let bundles: ReturnType<typeof synthLambdaBundles>;
let sqs: LocalSqs;
let secrets: LocalSecretsManager;
let bus: LocalEventBridge;
let dynamo: LocalDynamo;
let env: Record<string, string>;

beforeAll(async () => {
  bundles = synthLambdaBundles();
  [sqs, secrets, bus, dynamo] = await Promise.all([
    startLocalSqs({ queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }] }),
    startLocalSecretsManager(),
    startLocalEventBridge(),
    startDynalite(),
  ]);
  const sm = new SecretsManagerClient({ endpoint: secrets.url });
  await sm.send(new CreateSecretCommand({ Name: 'signing', SecretString: SECRET }));
  sm.destroy();
  env = {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ENDPOINT_URL_SQS: sqs.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
    [RESOURCE_ENV.queueUrl]: sqs.queueUrl('webhooks'),
    [RESOURCE_ENV.signingSecretId]: 'signing',
    [RESOURCE_ENV.eventTable]: dynamo.tableName,
    [RESOURCE_ENV.eventBus]: 'makini-events',
    [RESOURCE_ENV.tokenKey]: 'arn:aws:kms:us-east-1:000000000000:key/bundle-test',
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([sqs?.close(), secrets?.close(), bus?.close(), dynamo?.close()]);
});

async function invoke(bundle: LambdaBundle, event: unknown, extraEnv: Record<string, string> = CREDENTIALS) {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', invokeBundleScript(bundle)], {
    env: { ...env, ...extraEnv, BUNDLE_EVENT: JSON.stringify(event) },
  });
  return { result: bundleResult(stdout), stdout };
}

/**
 * The receiver bundle's size budget. 256 KB (still the target of `npm run bench`'s row, which it now misses) until issue 17
 * (bodies above 200,000 bytes go to S3): the S3 client (its endpoint rules, XML protocol and
 * checksums) adds about 164 KB, measured at 428,538 bytes in all (2026-12-02). A hand-signed
 * PutObject would avoid most of it, as it would for SQS; we keep the SDK (README: Receiver CPU).
 */
const RECEIVER_BUNDLE_BUDGET_KB = 420;

describe('the synthesized bundles', () => {
  it('are ES modules with the Lambda-only credential provider: no SSO, STS or INI-file code inside', () => {
    for (const bundle of Object.values(bundles)) {
      expect(bundle.file).toMatch(/index\.mjs$/);
      const code = readFileSync(bundle.file, 'utf8');
      expect(code).not.toMatch(/AssumeRoleWithWebIdentity|GetRoleCredentials|CreateToken/);
      expect(code).not.toContain('credential-provider-ini');
    }
  });

  // 250 KB until Makini's documented format (issue 12: canonical-JSON verification, the content
  // dedup key, the source allowlist, list settings) added 4 KB of our own code; the SDK clients'
  // bundled package.json files alone are 4.6 KB that esbuild cannot drop (esbuild metafile, 2026-12-01).
  it('keeps the receiver within its 420 KB budget (a size, not a timing: `npm run bench` reports the rest)', () => {
    expect(statSync(bundles.receiver.file).size).toBeLessThanOrEqual(RECEIVER_BUNDLE_BUDGET_KB * 1024);
  });

  it('receiver: verifies with the secret from Secrets Manager and sends one SQS message, then a consumer bundle processes it', async () => {
    const body = JSON.stringify({ id: 'evt_bundle_1', type: 'connection.online', connection_id: 'conn_bundle', occurred_at: '2026-11-22T08:00:00Z' });
    const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    const received = await invoke(bundles.receiver, apiGatewayEvent({ body, headers: { 'x-makini-signature': signature } }));
    expect(received.result).toMatchObject({ statusCode: 200 });
    expect(received.stdout).not.toContain(SECRET);
    expect(sqs.calls).toMatchObject({ SendMessage: 1 });
    expect(secrets.calls).toMatchObject({ GetSecretValue: 1 });

    const client = new SQSClient({ endpoint: sqs.url });
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('webhooks'), MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'] }));
    client.destroy();
    expect(Messages).toHaveLength(1);
    const consumed = await invoke(bundles.consumer, { Records: Messages.map((m) => toRecord(m, 'arn:aws:sqs:us-east-1:000000000000:webhooks')) });
    expect(consumed.result).toEqual({ batchItemFailures: [] });
    expect(bus.calls).toMatchObject({ PutEvents: 1 });
    expect(bus.events().map((e) => e['detail-type'])).toEqual(['connection.online']);
  }, 60_000);

  it('receiver without credentials in the environment: a structured 503, never a 200', async () => {
    const body = JSON.stringify({ id: 'evt_bundle_2', type: 'connection.online', connection_id: 'conn_bundle' });
    const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    const { result } = await invoke(bundles.receiver, apiGatewayEvent({ body, headers: { 'x-makini-signature': signature } }), {});
    expect(result).toMatchObject({ statusCode: 503 });
  }, 60_000);

  it('poller: builds and runs a poll against the local endpoints (no connections registered)', async () => {
    const { result } = await invoke(bundles.poller, {});
    expect(result).toMatchObject({ polled: 0, failed: 0 });
  }, 60_000);
});
