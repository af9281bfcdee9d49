/**
 * Bodies kept apart (issue 17): a webhook item whose body would take it past 1 KB (one write unit)
 * keeps its body in an item of its own, so its claim, its completion and every duplicate's claim
 * cost 1 write unit. Checked on dynalite with DynamoDB's sizing rules, as dynalite implements them.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { capacityUnits, itemSize } from 'dynalite/db';
import { approximateItemBytes, DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { BODY_KEY_PREFIX } from '../../lambdas/core/body-store';
import { claimMessage, finishProcessed, processMessage, WebhookBusyError, type RecordOutcome } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

let dynamo: LocalDynamo;
let clock: number;
let store: DynamoDbEventStore;
/** Every command the store sent: its name and the sort key of the item it names. */
let sent: string[];

beforeEach(async () => {
  dynamo = await startDynalite();
  clock = Date.parse('2026-12-03T06:00:00Z');
  sent = [];
  store = new DynamoDbEventStore(recording(dynamo.doc), { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => clock });
});
afterEach(async () => dynamo.close());

function recording(doc: DynamoDBDocumentClient): DynamoDBDocumentClient {
  const send = doc.send.bind(doc) as (command: unknown) => Promise<unknown>;
  return new Proxy(doc, {
    get: (target, key) =>
      key === 'send'
        ? (command: { constructor: { name: string }; input: { Key?: { sk?: string }; Item?: { sk?: string } } }) => {
            sent.push(`${command.constructor.name.replace(/Command$/, '')} ${command.input.Key?.sk ?? command.input.Item?.sk ?? ''}`.trim());
            return send(command);
          }
        : Reflect.get(target, key),
  });
}

let deliveries = 0;
/** One SQS delivery of a Makini notification to a connection's URL, under an id shaped like a content key. */
function notification(records: number, connectionId = 'conn_1', seed = 'a') {
  const raw = Buffer.from(JSON.stringify({ event: 'assets.updated', body: Array.from({ length: records }, (_, i) => `${seed}${i}`.padEnd(8, '0') + '-0000-4000-8000-000000000000') }));
  return { deliveryId: `msg-${++deliveries}`, body: encodeEnvelope({ webhookId: `sha256:${seed.repeat(64).slice(0, 64)}`, dedup: 'id', receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r', connectionId }, raw), raw };
}

async function consume(message: { deliveryId: string; body: string }): Promise<RecordOutcome> {
  const outcome = await processMessage(message, store, DEFAULT_CONFIG);
  if (outcome.kind === 'processed') await finishProcessed(outcome, store);
  return outcome;
}

/** The raw items of one webhook (its item, and its body's if kept apart), by sort key. */
async function itemsOf(webhookId: string) {
  const { Items = [] } = await dynamo.client.send(new ScanCommand({ TableName: dynamo.tableName }));
  return new Map(Items.filter((i) => i.pk?.S === `WEBHOOK#${webhookId}`).map((i) => [i.sk!.S!, i]));
}

describe('a body that would take the webhook item past one write unit', () => {
  it('is kept in an item of its own, compressed; the webhook item stays within 1 KB and every read gives the body back', async () => {
    const message = notification(25);
    expect(message.raw.length).toBeGreaterThan(950);
    await consume(message);
    const items = await itemsOf(`sha256:${'a'.repeat(64)}`);
    expect([...items.keys()].sort()).toEqual(['BODY', 'WEBHOOK']);
    const webhook = items.get('WEBHOOK')!;
    expect(webhook.body).toBeUndefined();
    expect(webhook.bodyApart).toEqual({ BOOL: true });
    expect(itemSize(webhook)).toBeLessThanOrEqual(1024);
    expect(capacityUnits(webhook, false)).toBe(1);
    const body = items.get('BODY')!;
    expect(body.encoding).toEqual({ S: 'deflate-raw' });
    expect(body.body!.B!.length).toBeLessThan(message.raw.length);
    expect(capacityUnits(body, false)).toBe(1);
    expect(body.expiresAt).toEqual(webhook.expiresAt); // both expire together
    expect(body.gsi1pk).toBeUndefined(); // no index entry: not listed on its own

    const id = `sha256:${'a'.repeat(64)}`;
    expect(Buffer.from((await store.getWebhook(id))!.body).equals(message.raw)).toBe(true);
    expect(Buffer.from((await store.listEvents('conn_1'))[0].body).equals(message.raw)).toBe(true);
    expect(Buffer.from((await store.listAllEvents())[0].body).equals(message.raw)).toBe(true);
  });

  it('costs a duplicate one write of the small item, and writes the body once', async () => {
    await consume(notification(25));
    sent = [];
    const outcomes = [await consume(notification(25)), await consume(notification(25))];
    expect(outcomes.map((o) => o.kind)).toEqual(['duplicate', 'duplicate']);
    expect(sent).toEqual(['Update WEBHOOK', 'Update WEBHOOK']);
    const webhook = (await itemsOf(`sha256:${'a'.repeat(64)}`)).get('WEBHOOK')!;
    expect(capacityUnits(webhook, false)).toBe(1); // still one unit with three deliveries
    expect((await store.getWebhook(`sha256:${'a'.repeat(64)}`))?.deliveries).toBe(3);
  });

  it('keeps a small body inline, as before: no second item, no extra write', async () => {
    await consume(notification(2, 'conn_1', 'b'));
    const items = await itemsOf(`sha256:${'b'.repeat(64)}`);
    expect([...items.keys()]).toEqual(['WEBHOOK']);
    expect(items.get('WEBHOOK')!.body?.B).toBeDefined();
    expect(sent.filter((c) => c.endsWith('BODY'))).toEqual([]);
  });

  it('stores a body as it is when compressing would not make it smaller (random bytes, kept as unprocessable)', async () => {
    const noise = randomBytes(1_500);
    await consume({ deliveryId: 'msg-noise', body: encodeEnvelope({ webhookId: 'evt_noise', receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, noise) });
    const body = (await itemsOf('evt_noise')).get('BODY')!;
    expect(body.encoding).toBeUndefined();
    expect(Buffer.from(body.body!.B!).equals(noise)).toBe(true);
    expect(Buffer.from((await store.getWebhook('evt_noise'))!.body).equals(noise)).toBe(true);
  });

  it('when the body write fails, fails the claim; the copy that takes over after the lease writes it, and nothing is lost', async () => {
    const message = notification(25, 'conn_1', 'c');
    const failing = new DynamoDbEventStore(
      new Proxy(dynamo.doc, {
        get: (target, key) =>
          key === 'send'
            ? (command: { input: { Item?: { sk?: string } } }) => (command.input.Item?.sk === 'BODY' ? Promise.reject(new Error('injected: body write failed')) : target.send(command as never))
            : Reflect.get(target, key),
      }),
      { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => clock },
    );
    await expect(processMessage(message, failing, DEFAULT_CONFIG)).rejects.toThrow('injected: body write failed');
    const id = `sha256:${'c'.repeat(64)}`;
    expect((await store.getWebhook(id))).toMatchObject({ status: 'PROCESSING', body: new Uint8Array() });
    // Another copy waits while the lease runs, then takes over and stores the body.
    await expect(processMessage(notification(25, 'conn_1', 'c'), store, DEFAULT_CONFIG)).rejects.toBeInstanceOf(WebhookBusyError);
    clock += 31_000;
    expect((await consume(notification(25, 'conn_1', 'c'))).kind).toBe('processed');
    const stored = await store.getWebhook(id);
    expect(stored?.status).toBe('DONE');
    expect(Buffer.from(stored!.body).equals(message.raw)).toBe(true);
  });

  it('reads an item written before bodies were kept apart (body inline, however large), and a claim on it writes no body item', async () => {
    const raw = Buffer.from(JSON.stringify({ event: 'assets.updated', body: Array.from({ length: 25 }, () => randomUUID()) }));
    const id = `sha256:${'d'.repeat(64)}`;
    await dynamo.doc.send(
      new PutCommand({
        TableName: dynamo.tableName,
        Item: { pk: `WEBHOOK#${id}`, sk: 'WEBHOOK', entity: 'webhook', webhookId: id, bodyHash: createHash('sha256').update(raw).digest('hex'), body: raw, receivedAt: new Date(clock).toISOString(), owner: 'old', leaseUntil: clock - 1, status: 'PROCESSING', deliveryIds: new Set(['old']), expiresAt: 1, type: 'assets.updated', occurredAt: new Date(clock).toISOString(), connectionId: 'conn_1', source: 'webhook', gsi1pk: 'CONNECTION#conn_1', gsi1sk: `x#${id}` },
      }),
    );
    expect(Buffer.from((await store.getWebhook(id))!.body).equals(raw)).toBe(true);
    const copy = { deliveryId: 'msg-new', body: encodeEnvelope({ webhookId: id, receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r', connectionId: 'conn_1' }, raw) };
    expect((await consume(copy)).kind).toBe('processed'); // the old owner's lease ran out: taken over
    expect([...(await itemsOf(id)).keys()]).toEqual(['WEBHOOK']);
    expect(Buffer.from((await store.listEvents('conn_1'))[0].body).equals(raw)).toBe(true);
  });

  it('reads the inline body when an older version added one to an item whose body is apart (a rollout in progress)', async () => {
    const message = notification(25, 'conn_1', 'h');
    await consume(message);
    const id = `sha256:${'h'.repeat(64)}`;
    const { UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
    await dynamo.doc.send(new UpdateCommand({ TableName: dynamo.tableName, Key: { pk: `WEBHOOK#${id}`, sk: 'WEBHOOK' }, UpdateExpression: 'SET body = if_not_exists(body, :b)', ExpressionAttributeValues: { ':b': message.raw } }));
    expect(Buffer.from((await store.getWebhook(id))!.body).equals(message.raw)).toBe(true);
    expect(Buffer.from((await store.listEvents('conn_1'))[0].body).equals(message.raw)).toBe(true);
  });

  it('says so when the body item is gone (TTL deletes the two items separately), rather than giving an empty body as the body', async () => {
    await consume(notification(25, 'conn_3', 'i'));
    const id = `sha256:${'i'.repeat(64)}`;
    const { DeleteCommand } = await import('@aws-sdk/lib-dynamodb');
    await dynamo.doc.send(new DeleteCommand({ TableName: dynamo.tableName, Key: { pk: `WEBHOOK#${id}`, sk: 'BODY' } }));
    for (const stored of [await store.getWebhook(id), (await store.listEvents('conn_3'))[0], (await store.listAllEvents()).find((w) => w.webhookId === id)]) {
      expect(stored).toMatchObject({ webhookId: id, status: 'DONE', bodyMissing: true });
      expect(stored!.body).toHaveLength(0);
    }
    expect((await store.listEvents('conn_1')).every((w) => w.bodyMissing === undefined)).toBe(true);
  });

  it('writes the body item before the claim returns, so processing never starts without it', async () => {
    const message = notification(25, 'conn_2', 'e');
    const claimed = await claimMessage(message, store, DEFAULT_CONFIG);
    expect(claimed.kind).toBe('claimed');
    const id = `sha256:${'e'.repeat(64)}`;
    // The body item is written by the claim itself, before the claim returns.
    expect((await dynamo.client.send(new GetItemCommand({ TableName: dynamo.tableName, Key: { pk: { S: `WEBHOOK#${id}` }, sk: { S: 'BODY' } } }))).Item).toBeDefined();
  });
});

describe('approximateItemBytes', () => {
  it('is within a byte per number of dynalite for a webhook item, and never under it', async () => {
    await consume(notification(25, 'conn_1', 'f'));
    await consume(notification(2, 'conn_1', 'g'));
    for (const seed of ['f', 'g']) {
      const webhook = (await itemsOf(`sha256:${seed.repeat(64)}`)).get('WEBHOOK')!;
      const { unmarshall } = await import('@aws-sdk/util-dynamodb');
      const estimate = approximateItemBytes(unmarshall(webhook));
      expect(estimate).toBeGreaterThanOrEqual(itemSize(webhook));
      expect(estimate).toBeLessThanOrEqual(itemSize(webhook) + 8); // a byte at most per number
    }
  });
});

describe('where the line falls', () => {
  it('keeps a body inline while the completed item, with one more delivery, stays within 1 KB, and apart from there', async () => {
    const seen: { apart: boolean; inlineBytes: number }[] = [];
    for (let n = 380; n <= 520; n += 4) {
      const id = `evt_${n}`;
      const raw = Buffer.from(JSON.stringify({ id, type: 'system.error', timestamp: '2026-12-03T05:00:00Z', connection_id: 'conn_1', data: { message: 'x'.repeat(n) } }));
      await consume({ deliveryId: `msg-line-${n}`, body: encodeEnvelope({ webhookId: id, receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, raw) });
      const items = await itemsOf(id);
      const webhook = itemSize(items.get('WEBHOOK')!);
      // What the completed item is, or would be, with the body inline ('bodyApart' + its byte out, 'body' + the body in).
      seen.push({ apart: items.has('BODY'), inlineBytes: items.has('BODY') ? webhook - 'bodyApart'.length - 1 + 'body'.length + raw.length : webhook });
    }
    expect(seen.filter((s) => s.apart).length).toBeGreaterThan(0);
    expect(seen.filter((s) => !s.apart).length).toBeGreaterThan(0);
    for (const s of seen.filter((s) => !s.apart)) expect(s.inlineBytes + 36).toBeLessThanOrEqual(1024);
    // The estimate counts at most a byte more per number than DynamoDB (three numbers here).
    for (const s of seen.filter((s) => s.apart)) expect(s.inlineBytes + 36).toBeGreaterThan(1024 - 3);
  });
});

describe('approximateItemBytes, value by value', () => {
  // dynalite's own sizing (DynamoDB's rules) of a one-attribute item, as the oracle.
  const dynaliteBytes = (value: unknown) => itemSize(marshall({ a: value }, { removeUndefinedValues: true }));

  it.each([0, 5, -5, 10, 1000, 1001, 123456789, 1764748800, 1764748800123, 0.5, -0.125, 12.5])('sizes the number %p at or at most a byte over DynamoDB (zero: two)', (n) => {
    expect(approximateItemBytes({ a: n })).toBeGreaterThanOrEqual(dynaliteBytes(n));
    expect(approximateItemBytes({ a: n })).toBeLessThanOrEqual(dynaliteBytes(n) + (n === 0 ? 2 : 1));
  });

  it('sizes strings, binaries, booleans and sets by their contents, and lists and maps as DynamoDB does', () => {
    expect(approximateItemBytes({ a: 'héllo' })).toBe(1 + 6);
    expect(approximateItemBytes({ a: new Uint8Array(10) })).toBe(1 + 10);
    expect(approximateItemBytes({ a: true })).toBe(2);
    expect(approximateItemBytes({ a: new Set(['ab', 'cde']) })).toBe(1 + 5);
    expect(approximateItemBytes({ a: ['ab', 'cde'] })).toBe(dynaliteBytes(['ab', 'cde']));
    expect(approximateItemBytes({ a: [] })).toBe(dynaliteBytes([]));
    const map = { key: 'k', sha256: 'f'.repeat(64), nested: { list: ['x', 'yz'], flag: false } };
    expect(approximateItemBytes({ a: map })).toBe(dynaliteBytes(map));
    expect(approximateItemBytes({ a: { bytes: 12 } })).toBe(dynaliteBytes({ bytes: 12 }) + 1);
    expect(approximateItemBytes({ a: null })).toBe(dynaliteBytes(null));
    expect(approximateItemBytes({ a: undefined, bb: 'x' })).toBe(1 + 2 + 1);
  });
});

describe('marks from another version', () => {
  it('reads a pointer to the body store over a bodyApart mark on the same item', async () => {
    await consume(notification(25, 'conn_4', 'j'));
    const id = `sha256:${'j'.repeat(64)}`;
    const { UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
    const pointer = { key: `${BODY_KEY_PREFIX}${'a'.repeat(64)}`, bytes: 999, sha256: 'a'.repeat(64) };
    await dynamo.doc.send(new UpdateCommand({ TableName: dynamo.tableName, Key: { pk: `WEBHOOK#${id}`, sk: 'WEBHOOK' }, UpdateExpression: 'SET bodyRef = :p', ExpressionAttributeValues: { ':p': pointer } }));
    expect(await store.getWebhook(id)).toMatchObject({ bodyRef: pointer, body: new Uint8Array() });
    expect((await store.getWebhook(id))?.bodyMissing).toBeUndefined();
  });

  it('counts no deliveries for an item that has no delivery set', async () => {
    await dynamo.doc.send(new PutCommand({ TableName: dynamo.tableName, Item: { pk: 'WEBHOOK#evt_bare', sk: 'WEBHOOK', entity: 'webhook', webhookId: 'evt_bare', body: Buffer.from('{}'), receivedAt: new Date(clock).toISOString(), status: 'DONE' } }));
    expect((await store.getWebhook('evt_bare'))?.deliveries).toBe(0);
  });
});
