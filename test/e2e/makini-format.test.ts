/**
 * Makini's webhooks exactly as its public docs describe them (eqcentric/api-docs,
 * docs/webhook/Webhook.md): `{"event": "assets.updated", "body": [ids]}`, signed with HMAC-SHA256
 * of `JSON.stringify` of the parsed body, base64, in `X-Webhook-Signature`. Against the default
 * `npm start` stack, with no configuration.
 */
import { createHmac } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { readBusLog } from '../../local/aws/eventbridge';
import { queueDepth, startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(120_000);

let stack: StackProcess | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** What Makini's documented verifier computes: base64 HMAC-SHA256 of JSON.stringify(parsed body). */
const makiniSignature = (parsed: unknown, secret: string) => createHmac('sha256', secret).update(JSON.stringify(parsed)).digest('base64');

async function post(url: string, body: string, headers: Record<string, string>) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}
async function events(s: StackProcess, ...args: string[]) {
  const { code, stdout, stderr } = await cli(['events', '--json', '--local-dir', s.dir, ...args]);
  if (code !== 0) throw new Error(stderr);
  return JSON.parse(stdout) as { webhookId: string; deliveries: number; connectionId?: string; event: { type: string; entity?: string; ids?: string[]; connectionId?: string; timeSource: string } }[];
}
async function tableText(s: StackProcess): Promise<string> {
  const db = new DynamoDBClient({ endpoint: s.info.endpoints.dynamodb });
  try {
    return JSON.stringify((await db.send(new ScanCommand({ TableName: s.info.tableName }))).Items ?? []);
  } finally {
    db.destroy();
  }
}

describe("Makini's documented webhook, end to end on the default local stack", () => {
  it('accepts a documented notification whose bytes are not JSON.stringify; a tampered copy gets 401 and leaves no trace', async () => {
    stack = await startStackProcess();
    const ids = ['16c69269-0432-4382-b48f-eb3538b4b3d7', '418e84a7-9ae4-4ab7-ad0f-43c4edba9098'];
    const notification = { event: 'assets.updated', body: ids };
    // Another serializer's bytes: indentation, a CRLF and a \u escape. Makini signs JSON.stringify.
    const sent = JSON.stringify(notification, null, 2).replace('"assets.updated"', '"assets\\u002eupdated"').replace('\n', '\r\n');
    expect(sent).not.toBe(JSON.stringify(notification));
    expect(JSON.parse(sent)).toEqual(notification);

    const tamperedId = 'e5d5809d-a2f0-44be-aca2-aa6059b5206d';
    const tampered = await post(stack.info.webhookUrl, JSON.stringify({ event: 'assets.updated', body: [ids[0], tamperedId] }, null, 2), { 'X-Webhook-Signature': makiniSignature(notification, stack.secret) });
    expect(tampered).toEqual({ status: 401, json: { error: expect.objectContaining({ code: 'INVALID_SIGNATURE' }) } });

    const accepted = await post(stack.info.webhookUrl, sent, { 'X-Webhook-Signature': makiniSignature(notification, stack.secret) });
    expect(accepted.status).toBe(200);
    expect(accepted.json.webhookId).toMatch(/^sha256:[0-9a-f]{64}$/);

    await waitFor(async () => (await events(stack!)).length === 1, 30_000, () => 'the notification in events');
    const [event] = await events(stack);
    expect(event).toMatchObject({ webhookId: expect.stringMatching(new RegExp(`^${String(accepted.json.webhookId)}@`)), deliveries: 1, event: { type: 'assets.updated', entity: 'assets', action: 'updated', ids, timeSource: 'received' } });
    expect(event.connectionId).toBeUndefined();

    const bus = readBusLog(stack.info.busLog);
    expect(bus).toEqual([expect.objectContaining({ source: 'makini.webhooks', 'detail-type': 'assets.updated', detail: expect.objectContaining({ event: expect.objectContaining({ ids, entity: 'assets' }), stale: false }) })]);
    expect(bus[0].detail).not.toHaveProperty('state');

    // No trace of the tampered copy anywhere: not queued, not stored, not published, no alarm metric but the rejection.
    expect(await queueDepth(stack)).toBe(0);
    expect(await tableText(stack)).not.toContain(tamperedId);
    expect(JSON.stringify(bus)).not.toContain(tamperedId);
    expect(stack.output()).toMatch(/"message": ?"webhook rejected"[^}]*"code": ?"INVALID_SIGNATURE"/);
    expect(stack.output()).toContain('"SignatureMatchedCanonicalJson":1');
    expect(stack.output()).toMatch(/processed assets\.updated .* 2 id\(s\) no connection/);
  });

  it('collapses a retry of the same bytes into one event with two deliveries', async () => {
    stack = await startStackProcess();
    const { code } = await cli(['send', '--url', stack.info.webhookUrl, '--secret', stack.secret, '--type', 'sites.updated', '--ids', 'site-1', '--repeat', '2']);
    expect(code).toBe(0);
    await waitFor(async () => (await events(stack!))[0]?.deliveries === 2, 30_000, () => 'two deliveries counted');
    expect(await events(stack)).toHaveLength(1);
    expect(readBusLog(stack.info.busLog)).toHaveLength(1);
  });

  it('attributes webhooks posted to /webhooks/{connection} to that connection, and keeps connection-less ones out of every state', async () => {
    stack = await startStackProcess();
    const url = stack.info.webhookUrlTemplate.replace('{connection}', 'conn_plant_7');
    expect((await cli(['send', '--url', url, '--secret', stack.secret, '--type', 'work-orders.inserted', '--ids', 'wo-1'])).code).toBe(0);
    expect((await cli(['send', '--url', stack.info.webhookUrl, '--secret', stack.secret, '--type', 'purchase-orders.updated', '--ids', 'po-1'])).code).toBe(0);
    const bad = await post(`${stack.info.webhookUrl}/not%20valid`, '{}', { 'x-webhook-signature': makiniSignature({}, stack.secret) });
    expect(bad).toEqual({ status: 400, json: { error: expect.objectContaining({ code: 'INVALID_CONNECTION_ID' }) } });

    await waitFor(async () => (await events(stack!)).length === 2, 30_000, () => 'both notifications processed');
    expect(await events(stack, '--connection', 'conn_plant_7')).toEqual([expect.objectContaining({ connectionId: 'conn_plant_7', event: expect.objectContaining({ type: 'work-orders.inserted', ids: ['wo-1'] }) })]);
    const { stdout } = await cli(['status', '--json', '--local-dir', stack.dir]);
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ connectionId: 'conn_plant_7', lastWebhookAt: expect.any(String) })]);
    const bus = readBusLog(stack.info.busLog);
    expect(bus.map((e) => e['detail-type']).sort()).toEqual(['purchase-orders.updated', 'work-orders.inserted']);
    expect(bus.find((e) => e['detail-type'] === 'work-orders.inserted')?.detail).toMatchObject({ event: { connectionId: 'conn_plant_7' }, state: { connectionId: 'conn_plant_7' } });
    expect(bus.find((e) => e['detail-type'] === 'purchase-orders.updated')?.detail).not.toHaveProperty('state');
  });

  it('refuses sources outside allowedSourceIps with 403 FORBIDDEN_SOURCE, and lets listed ones in', async () => {
    stack = await startStackProcess({ env: { MAKINI_ALLOWED_SOURCE_IPS: 'makini' } });
    const body = JSON.stringify({ event: 'assets.updated', body: ['a'] });
    const refused = await post(stack.info.webhookUrl, body, { 'x-webhook-signature': makiniSignature(JSON.parse(body), stack.secret), 'x-forwarded-for': '15.204.75.108' });
    expect(refused).toEqual({ status: 403, json: { error: expect.objectContaining({ code: 'FORBIDDEN_SOURCE', type: 'permission_error' }) } });
    expect(await queueDepth(stack)).toBe(0);
    await stack.stop();

    stack = await startStackProcess({ env: { MAKINI_ALLOWED_SOURCE_IPS: 'makini,127.0.0.1' } });
    expect((await post(stack.info.webhookUrl, body, { 'x-webhook-signature': makiniSignature(JSON.parse(body), stack.secret) })).status).toBe(200);
  });
});
