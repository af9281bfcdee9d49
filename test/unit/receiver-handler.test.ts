import { createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { resolveConfig, type MakiniWebhookConfig } from '../../lib/config';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import type { SigningSecretSource, WebhookQueue } from '../../lambdas/core/receive';
import { createReceiverHandler, METRICS } from '../../lambdas/receiver/receiver';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { captureOutput } from '../support/capture-output';

const SECRET = 'unit-test-signing-secret-1f0e';
const NOW = Date.parse('2026-11-22T05:00:00Z');
const body = JSON.stringify({ id: 'evt_123', type: 'sync.completed', timestamp: '2026-11-22T04:59:00Z', connection_id: 'conn_9' });
const sign = (b: string | Buffer, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(b).digest('hex')}`;

class FakeSecrets implements SigningSecretSource {
  gets = 0;
  refreshes = 0;
  constructor(
    public current: string[],
    public stored: string[] = current,
    public failGet = false,
    public failRefresh = false,
    public rateLimited = false,
  ) {}
  async get() {
    this.gets++;
    if (this.failGet) throw new Error('secrets manager unreachable');
    return this.current;
  }
  async refresh() {
    this.refreshes++;
    if (this.failRefresh) throw new Error('secrets manager unreachable');
    if (this.rateLimited) return undefined;
    this.current = this.stored;
    return this.current;
  }
}

class FakeQueue implements WebhookQueue {
  messages: string[] = [];
  fail = false;
  async send(message: string) {
    if (this.fail) throw new Error('sqs unreachable');
    this.messages.push(message);
  }
}

function setup(overrides: Partial<MakiniWebhookConfig> = {}, secrets = new FakeSecrets([SECRET])) {
  const config = resolveConfig({ ...overrides });
  const queue = new FakeQueue();
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'receiver' });
  const addMetric = jest.spyOn(metrics, 'addMetric');
  const handle = createReceiverHandler({ config, secrets, queue, logger: new Logger({ serviceName: 'receiver' }), metrics, now: () => NOW });
  const call = async (event: Parameters<typeof handle>[0]) => {
    const { result, output } = await captureOutput(() => handle(event));
    return { ...result, json: JSON.parse(result.body ?? '{}'), output };
  };
  const metricNames = () => addMetric.mock.calls.map(([name]) => name);
  return { call, queue, secrets, metricNames };
}

describe('receiver handler', () => {
  it('answers 200 with the webhook id only after the message is enqueued', async () => {
    const { call, queue, metricNames } = setup();
    const res = await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body) }, requestId: 'req-ok' }));
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({ received: true, webhookId: 'evt_123' });
    expect(res.headers).toMatchObject({ 'x-request-id': 'req-ok', 'content-type': 'application/json' });
    expect(queue.messages).toHaveLength(1);
    expect(metricNames()).toEqual([METRICS.received]);
  });

  it('enqueues the raw body byte for byte, with its metadata', async () => {
    const { call, queue } = setup();
    const spaced = '{ "type" :"sync.failed",\n  "id": "evt_raw" }';
    await call(apiGatewayEvent({ body: spaced, headers: { 'x-makini-signature': sign(spaced) }, requestId: 'req-raw' }));
    const { envelope, body: stored } = decodeEnvelope(queue.messages[0]);
    expect(stored.toString('utf8')).toBe(spaced);
    expect(envelope).toMatchObject({ webhookId: 'evt_raw', scheme: 'makini', requestId: 'req-raw', contentType: 'application/json', receivedAt: '2026-11-22T05:00:00.000Z' });
  });

  it('verifies a base64-encoded body against its decoded bytes', async () => {
    const { call, queue } = setup();
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x7b]);
    const res = await call(apiGatewayEvent({ body: binary, headers: { 'x-makini-signature': sign(binary) } }));
    expect(res.statusCode).toBe(200);
    expect(res.json.webhookId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(decodeEnvelope(queue.messages[0]).body.equals(binary)).toBe(true);
  });

  it('reads the signature header whatever its case', async () => {
    const { call } = setup();
    const res = await call(apiGatewayEvent({ body, headers: { 'X-Makini-Signature': sign(body) } }));
    expect(res.statusCode).toBe(200);
  });

  it('accepts a verified body that is not JSON: the consumer decides', async () => {
    const { call, queue } = setup();
    const res = await call(apiGatewayEvent({ body: 'not json at all', headers: { 'x-makini-signature': sign('not json at all') } }));
    expect(res.statusCode).toBe(200);
    expect(queue.messages).toHaveLength(1);
  });

  it.each([
    ['MISSING_SIGNATURE', 401, {}],
    ['INVALID_SIGNATURE', 401, { 'x-makini-signature': sign(body, 'wrong-secret') }],
    ['INVALID_SIGNATURE', 401, { 'x-makini-signature': 'sha256=nothex' }],
  ])('answers %s (%i) with a structured error and enqueues nothing', async (code, status, headers) => {
    const { call, queue, metricNames } = setup();
    const res = await call(apiGatewayEvent({ body, headers, requestId: 'req-bad' }));
    expect(res.statusCode).toBe(status);
    expect(res.json).toEqual({ error: { code, type: 'authentication_error', message: expect.any(String), requestId: 'req-bad' } });
    expect(res.headers?.['x-request-id']).toBe('req-bad');
    expect(queue.messages).toHaveLength(0);
    expect(metricNames()).toEqual([METRICS.signatureRejected]);
  });

  it('answers TIMESTAMP_OUT_OF_TOLERANCE (401) for a stale standard-webhooks request', async () => {
    const { call, queue } = setup({ signatureScheme: 'standard-webhooks' }, new FakeSecrets(['whsec_' + Buffer.from(SECRET).toString('base64')]));
    const ts = Math.floor(NOW / 1000) - 301;
    const res = await call(apiGatewayEvent({ body, headers: { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') } }));
    expect(res.statusCode).toBe(401);
    expect(res.json.error.code).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    expect(queue.messages).toHaveLength(0);
  });

  it('answers EMPTY_BODY (400)', async () => {
    const { call } = setup();
    const res = await call(apiGatewayEvent({ headers: { 'x-makini-signature': sign('') } }));
    expect(res.statusCode).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'EMPTY_BODY', type: 'invalid_request_error' });
  });

  it('answers PAYLOAD_TOO_LARGE (413) above the configured limit, and accepts exactly the limit', async () => {
    const { call } = setup({ maxBodyBytes: 1024 });
    const atLimit = 'x'.repeat(1024);
    expect((await call(apiGatewayEvent({ body: atLimit, headers: { 'x-makini-signature': sign(atLimit) } }))).statusCode).toBe(200);
    const over = 'x'.repeat(1025);
    const res = await call(apiGatewayEvent({ body: over, headers: { 'x-makini-signature': sign(over) } }));
    expect(res.statusCode).toBe(413);
    expect(res.json.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers METHOD_NOT_ALLOWED (405) with an Allow header', async () => {
    const { call } = setup();
    const res = await call(apiGatewayEvent({ method: 'GET' }));
    expect(res.statusCode).toBe(405);
    expect(res.headers?.allow).toBe('POST');
    expect(res.json.error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('answers 503 with Retry-After when the queue fails, never a false 200', async () => {
    const { call, queue, metricNames } = setup();
    queue.fail = true;
    const res = await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body) } }));
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('30');
    expect(res.json.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', type: 'api_error' });
    expect(metricNames()).toEqual([METRICS.enqueueFailed]);
  });

  it('answers 503, not 401, when no secret can be fetched', async () => {
    const { call, queue, metricNames } = setup({}, new FakeSecrets([SECRET], [SECRET], true));
    const res = await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body) } }));
    expect(res.statusCode).toBe(503);
    expect(queue.messages).toHaveLength(0);
    expect(metricNames()).toEqual([METRICS.secretUnavailable]);
  });

  it('picks up a rotated secret on the first mismatch by refreshing once', async () => {
    const secrets = new FakeSecrets(['old-secret'], ['brand-new-secret']);
    const { call } = setup({}, secrets);
    const res = await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body, 'brand-new-secret') } }));
    expect(res.statusCode).toBe(200);
    expect(secrets.refreshes).toBe(1);
  });

  it('answers 401 when the refresh is rate-limited and nothing matches', async () => {
    const secrets = new FakeSecrets([SECRET], [SECRET], false, false, true);
    const { call } = setup({}, secrets);
    const res = await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body, 'forged') } }));
    expect(res.statusCode).toBe(401);
    expect(secrets.refreshes).toBe(1);
  });

  it('answers 503 when a mismatch cannot be re-checked because Secrets Manager is down', async () => {
    const { call } = setup({}, new FakeSecrets([SECRET], [SECRET], false, true));
    const res = await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body, 'rotated-unseen') } }));
    expect(res.statusCode).toBe(503);
  });

  it('does not fetch the secret for requests that fail cheap checks', async () => {
    const secrets = new FakeSecrets([SECRET]);
    const { call } = setup({}, secrets);
    await call(apiGatewayEvent({ body }));
    await call(apiGatewayEvent({ method: 'PUT', body }));
    expect(secrets.gets).toBe(0);
  });

  it('takes the webhook id from the webhook-id header, then x-makini-webhook-id, then the body', async () => {
    const { call } = setup();
    const headers = { 'x-makini-signature': sign(body) };
    expect((await call(apiGatewayEvent({ body, headers: { ...headers, 'webhook-id': 'msg_h1', 'x-makini-webhook-id': 'mk_2' } }))).json.webhookId).toBe('msg_h1');
    expect((await call(apiGatewayEvent({ body, headers: { ...headers, 'x-makini-webhook-id': 'mk_2' } }))).json.webhookId).toBe('mk_2');
    expect((await call(apiGatewayEvent({ body, headers }))).json.webhookId).toBe('evt_123');
  });

  it('never logs the secret, the signature or the body', async () => {
    const { call } = setup();
    const signature = sign(body);
    const outputs = [
      (await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': signature } }))).output,
      (await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body, 'forged') } }))).output,
    ].join('\n');
    expect(outputs).toContain('webhook accepted');
    expect(outputs).toContain('webhook rejected');
    for (const forbidden of [SECRET, signature.slice(7), 'conn_9', 'sync.completed']) expect(outputs).not.toContain(forbidden);
  });
});
