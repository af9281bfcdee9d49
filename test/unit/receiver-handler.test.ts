import { createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { receiverWritesReserveMs, resolveConfig, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { SigningSecretUnavailableError } from '../../lambdas/core/errors';
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
  /** The time `budgetMs` gave the last refresh that would have fetched. */
  budget: number | undefined;
  async refresh(budgetMs?: () => number) {
    this.refreshes++;
    if (this.rateLimited) return undefined;
    this.budget = budgetMs?.();
    if (this.budget !== undefined && this.budget <= 0) throw new SigningSecretUnavailableError({ cause: new Error('no time left') });
    if (this.failRefresh) throw new Error('secrets manager unreachable');
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
  const handle = createReceiverHandler({ config, secrets, queue, logger: new Logger({ serviceName: 'receiver', logLevel: 'DEBUG' }), metrics, now: () => NOW }); // DEBUG: every line the receiver can write is checked for leaks
  const call = async (event: Parameters<typeof handle>[0], context?: Parameters<typeof handle>[1]) => {
    const { result, output } = await captureOutput(() => handle(event, context));
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
    expect(metricNames()).toEqual([]); // a raw match writes no metric: the consumer counts it as received
  });

  it('enqueues the raw body byte for byte, with its metadata', async () => {
    const { call, queue } = setup();
    const spaced = '{ "type" :"sync.failed",\n  "id": "evt_raw" }';
    await call(apiGatewayEvent({ body: spaced, headers: { 'x-makini-signature': sign(spaced) }, requestId: 'req-raw' }));
    const { envelope, body: stored } = decodeEnvelope(queue.messages[0]);
    expect(stored.toString('utf8')).toBe(spaced);
    expect(envelope).toMatchObject({ webhookId: 'evt_raw', scheme: 'makini', requestId: 'req-raw', contentType: 'application/json', receivedAt: '2026-11-22T05:00:00.000Z' });
    expect(envelope).not.toHaveProperty('dedup'); // deduplicated by its own id: only a content key is marked
  });

  it('verifies a base64-encoded body against its decoded bytes', async () => {
    const { call, queue } = setup();
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x7b]);
    const res = await call(apiGatewayEvent({ body: binary, headers: { 'x-makini-signature': sign(binary) } }));
    expect(res.statusCode).toBe(200);
    expect(res.json.webhookId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(decodeEnvelope(queue.messages[0]).body.equals(binary)).toBe(true);
    expect(decodeEnvelope(queue.messages[0]).envelope.dedup).toBe('content');
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
    expect(res.headers).not.toHaveProperty('allow');
    expect(res.headers).not.toHaveProperty('retry-after'); // a forgery is not asked to come back
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

  it('accepts a fresh standard-webhooks request, its timestamp checked against the clock in seconds', async () => {
    const key = Buffer.from(SECRET);
    const { call, queue } = setup({ signatureScheme: 'standard-webhooks' }, new FakeSecrets(['whsec_' + key.toString('base64')]));
    const ts = String(Math.floor(NOW / 1000) - 10);
    const signature = createHmac('sha256', key).update(`msg_fresh.${ts}.${body}`).digest('base64');
    const res = await call(apiGatewayEvent({ body, headers: { 'webhook-id': 'msg_fresh', 'webhook-timestamp': ts, 'webhook-signature': `v1,${signature}` } }));
    expect(res.statusCode).toBe(200);
    expect(queue.messages).toHaveLength(1);
  });

  it('answers EMPTY_BODY (400)', async () => {
    const { call } = setup();
    const res = await call(apiGatewayEvent({ headers: { 'x-makini-signature': sign('') } }));
    expect(res.statusCode).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'EMPTY_BODY', type: 'invalid_request_error' });
  });

  it('answers PAYLOAD_TOO_LARGE (413) above the configured limit, and accepts exactly the limit', async () => {
    const { call, secrets } = setup({ maxBodyBytes: 1024 });
    const atLimit = 'x'.repeat(1024);
    expect((await call(apiGatewayEvent({ body: atLimit, headers: { 'x-makini-signature': sign(atLimit) } }))).statusCode).toBe(200);
    const fetched = secrets.gets;
    const over = 'x'.repeat(1025);
    const res = await call(apiGatewayEvent({ body: over, headers: { 'x-makini-signature': sign(over) } }));
    expect(res.statusCode).toBe(413);
    expect(res.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(secrets.gets).toBe(fetched); // refused before the secret is even read
  });

  it('answers PAYLOAD_TOO_LARGE (413) when only the canonical JSON was signed and it outgrows the limit', async () => {
    const { call, queue } = setup({ maxBodyBytes: 1024 });
    const raw = `[${Array(200).fill('1e9').join(',')}]`; // 801 bytes; its canonical form spells out 1000000000
    const canonical = JSON.stringify(JSON.parse(raw));
    expect(raw.length).toBeLessThanOrEqual(1024);
    expect(canonical.length).toBeGreaterThan(1024);
    const res = await call(apiGatewayEvent({ body: raw, headers: { 'x-makini-signature': sign(canonical) } }));
    expect(res.statusCode).toBe(413);
    expect(res.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(queue.messages).toEqual([]);
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

  it('gives a look for a rotated secret only the time its writes leave (receiverWritesReserveMs); none left, 503', async () => {
    const config = resolveConfig();
    const reserve = receiverWritesReserveMs(config);
    const call = config.awsMaxAttempts * config.awsRequestTimeoutMs;
    expect(reserve).toBe(2 * call + 1_000); // bodies may go to the body store: a put and a send
    // Bodies that may not (no body up to 33,333 bytes can grow past the inline line on the bus): a send only.
    expect([receiverWritesReserveMs(resolveConfig({ maxBodyBytes: 200_000 })), receiverWritesReserveMs(resolveConfig({ maxBodyBytes: 33_333 }))]).toEqual([2 * call + 1_000, call + 1_000]);
    const headers = { 'x-makini-signature': sign(body, 'brand-new-secret') };
    const enough = setup({}, new FakeSecrets(['old-secret'], ['brand-new-secret']));
    expect((await enough.call(apiGatewayEvent({ body, headers }), { getRemainingTimeInMillis: () => reserve + 1 })).statusCode).toBe(200);
    expect(enough.secrets.budget).toBe(1);
    const late = setup({}, new FakeSecrets(['old-secret'], ['brand-new-secret']));
    const res = await late.call(apiGatewayEvent({ body, headers }), { getRemainingTimeInMillis: () => reserve });
    expect(res.statusCode).toBe(503);
    expect(late.secrets.budget).toBe(0);
    expect(late.metricNames()).toEqual([METRICS.secretUnavailable]);
    // Rate-limited, a forgery costs no time: 401 whatever is left.
    const limited = setup({}, new FakeSecrets([SECRET], [SECRET], false, false, true));
    expect((await limited.call(apiGatewayEvent({ body, headers }), { getRemainingTimeInMillis: () => 1 })).statusCode).toBe(401);
    // Outside Lambda (no context), the look is not bounded.
    const unbounded = setup({}, new FakeSecrets(['old-secret'], ['brand-new-secret']));
    expect((await unbounded.call(apiGatewayEvent({ body, headers }))).statusCode).toBe(200);
    expect(unbounded.secrets.budget).toBe(Number.POSITIVE_INFINITY);
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

  it('takes the webhook id from the signed body only: unsigned id headers cannot make a replay new', async () => {
    const { call, queue } = setup();
    const headers = { 'x-makini-signature': sign(body) };
    expect((await call(apiGatewayEvent({ body, headers: { ...headers, 'webhook-id': 'msg_h1', 'x-makini-webhook-id': 'mk_2' } }))).json.webhookId).toBe('evt_123');
    expect((await call(apiGatewayEvent({ body, headers }))).json.webhookId).toBe('evt_123');
    const notification = JSON.stringify({ event: 'assets.updated', body: ['a1'] });
    const first = await call(apiGatewayEvent({ body: notification, headers: { 'x-webhook-signature': sign(notification) } }));
    const replayed = await call(apiGatewayEvent({ body: notification, headers: { 'x-webhook-signature': sign(notification), 'webhook-id': 'msg_fresh' } }));
    expect(replayed.json.webhookId).toBe(first.json.webhookId);
    expect(decodeEnvelope(queue.messages.at(-1)!).envelope).toMatchObject({ webhookId: first.json.webhookId, dedup: 'content' });
  });

  it("accepts Makini's documented signature: base64 of JSON.stringify in X-Webhook-Signature, and stores the bytes it covers", async () => {
    const { call, queue, metricNames } = setup();
    const notification = { event: 'assets.updated', body: ['16c69269-0432-4382-b48f-eb3538b4b3d7'] };
    const pretty = `\uFEFF${JSON.stringify(notification, null, 2).replace('"assets.updated"', '"assets\\u002eupdated"')}`;
    const signature = createHmac('sha256', SECRET).update(JSON.stringify(notification)).digest('base64');
    const res = await call(apiGatewayEvent({ body: pretty, headers: { 'X-Webhook-Signature': signature } }));
    expect(res.statusCode).toBe(200);
    expect(res.json.webhookId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(decodeEnvelope(queue.messages[0]).body.toString('utf8')).toBe(JSON.stringify(notification));
    expect(metricNames()).toEqual([METRICS.signedCanonical]);
  });

  it('attributes a webhook posted to /webhooks/{connection} to that connection, and rejects a malformed one before verifying', async () => {
    const secrets = new FakeSecrets([SECRET]);
    const { call, queue } = setup({}, secrets);
    const notification = JSON.stringify({ event: 'sites.updated', body: ['s1'] });
    const ok = await call(apiGatewayEvent({ body: notification, headers: { 'x-webhook-signature': sign(notification) }, connection: 'conn_42' }));
    expect(ok.statusCode).toBe(200);
    expect(decodeEnvelope(queue.messages[0]).envelope).toMatchObject({ connectionId: 'conn_42', dedup: 'content' });
    const elsewhere = await call(apiGatewayEvent({ body: notification, headers: { 'x-webhook-signature': sign(notification) }, connection: 'conn_43' }));
    expect(elsewhere.json.webhookId).not.toBe(ok.json.webhookId); // one body at two connections: two events
    const gets = secrets.gets;
    for (const connection of ['../etc', 'a b', 'x'.repeat(129), '-starts-with-dash']) {
      const res = await call(apiGatewayEvent({ body: notification, headers: { 'x-webhook-signature': sign(notification) }, connection }));
      expect(res.statusCode).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'INVALID_CONNECTION_ID', type: 'invalid_request_error' });
    }
    expect(secrets.gets).toBe(gets);
    expect(queue.messages).toHaveLength(2);
  });

  it('refuses sources outside allowedSourceIps with 403 FORBIDDEN_SOURCE and a metric, by the address API Gateway saw', async () => {
    const { call, queue, metricNames } = setup({ allowedSourceIps: ['makini', '203.0.113.0/24'] });
    const headers = { 'x-makini-signature': sign(body) };
    expect((await call(apiGatewayEvent({ body, headers, sourceIp: '15.204.75.108' }))).statusCode).toBe(200);
    expect((await call(apiGatewayEvent({ body, headers, sourceIp: '203.0.113.99' }))).statusCode).toBe(200);
    const res = await call(apiGatewayEvent({ body, headers: { ...headers, 'x-forwarded-for': '15.204.75.108' }, sourceIp: '198.51.100.1', requestId: 'req-ip' }));
    expect(res.statusCode).toBe(403);
    expect(res.json).toEqual({ error: { code: 'FORBIDDEN_SOURCE', type: 'permission_error', message: expect.any(String), requestId: 'req-ip' } });
    expect(queue.messages).toHaveLength(2);
    expect(metricNames().filter((m) => m === METRICS.sourceForbidden)).toHaveLength(1);
  });

  it('accepts every source when no allowlist is set', async () => {
    const { call } = setup();
    expect((await call(apiGatewayEvent({ body, headers: { 'x-makini-signature': sign(body) }, sourceIp: '198.51.100.1' }))).statusCode).toBe(200);
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
