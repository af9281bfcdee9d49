/**
 * A content key's generations item for a record notified again and again (issue 17): the store
 * keeps up to 32 generations, and writes each new one for one write unit, in whichever of its two
 * forms (maps while they fit one unit, numbers past it) the item is; its decisions are those of the
 * pure fold in lambdas/core/content-dedup.ts, whatever the form. On dynalite, whose consumed
 * capacity follows DynamoDB's sizing rules.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEventStore, readGenerations, withGenerations } from '../../lambdas/adapters/dynamodb-event-store';
import { contentEventId, contentGeneration, MAX_GENERATIONS, nextGenerations, type Generation } from '../../lambdas/core/content-dedup';
import { putCapacityRecorder, startDynalite, type LocalDynamo } from '../support/dynalite';

const MINUTE = 60_000;
const WINDOW_MS = 15 * MINUTE;
const KEY = 'sha256:' + '7'.repeat(64);
const T0 = Date.parse('2026-11-22T06:00:00.000Z');

let dynamo: LocalDynamo;
/** Write units of each generations write the store made. */
let units: number[];

beforeEach(async () => {
  dynamo = await startDynalite();
  units = [];
});
afterEach(async () => dynamo.close());

/** The store on dynalite, recording the consumed capacity of each generations write in `units`. */
function store(): DynamoDbEventStore {
  const recorder = putCapacityRecorder(dynamo.doc, 'generations');
  units = recorder.units;
  return new DynamoDbEventStore(recorder.client, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000, contentDedupWindowMs: WINDOW_MS, now: () => T0 });
}

async function generationsItem(): Promise<Record<string, unknown>> {
  return (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: `CONTENT#${KEY}`, sk: 'GENERATION' } }))).Item ?? {};
}

/** Claims the webhook item of `webhookId`, a copy received at T0; when that item expires (epoch seconds). */
async function claimedExpiry(s: DynamoDbEventStore, webhookId: string): Promise<number> {
  await s.claim({ webhookId, deliveryId: 'm1', bodyHash: 'h', body: Buffer.from('{}'), receivedAt: at(T0), unprocessableReason: 'only its expiry matters here' });
  const webhook = await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: `WEBHOOK#${webhookId}`, sk: 'WEBHOOK' } }));
  return Number(webhook.Item?.expiresAt);
}

async function putMaps(generations: Generation[], version: number): Promise<number> {
  const out = await dynamo.doc.send(
    new PutCommand({ TableName: dynamo.tableName, Item: { pk: `CONTENT#${KEY}`, sk: 'GENERATION', entity: 'generations', generations, version, expiresAt: 1_800_000_000 }, ReturnConsumedCapacity: 'TOTAL' }),
  );
  return out.ConsumedCapacity?.CapacityUnits ?? Number.NaN;
}

const at = (ms: number) => new Date(ms).toISOString();
/** Copies received 20 minutes apart: each one a new event. */
const hourly = (n: number) => Array.from({ length: n }, (_, i) => at(T0 + i * 20 * MINUTE));

describe('generations of a record notified again and again', () => {
  it('writes each new generation for one write unit, up to the 32 kept and beyond, where maps would cost 3', async () => {
    const s = store();
    for (const receivedAt of hourly(40)) await s.resolveContentId(KEY, receivedAt);
    expect(units).toHaveLength(40);
    expect(units.every((u) => u === 1)).toBe(true);
    const kept = readGenerations(await generationsItem());
    expect(kept).toHaveLength(MAX_GENERATIONS);
    expect(kept.map((g) => g.start)).toEqual(hourly(40).slice(-MAX_GENERATIONS));
    // The baseline: the same 32 as maps, DynamoDB's size for them.
    expect(await putMaps(kept, 1)).toBe(3);
  });

  it('keeps maps while they fit one unit, as every earlier version reads them, and numbers past it', async () => {
    const s = store();
    const times = hourly(14);
    for (const receivedAt of times.slice(0, 5)) await s.resolveContentId(KEY, receivedAt);
    const small = await generationsItem();
    expect(small.generations).toEqual(times.slice(0, 5).map((t) => ({ start: t, from: t })));
    expect(small).not.toHaveProperty('generationTimes');
    for (const receivedAt of times.slice(5, 13)) await s.resolveContentId(KEY, receivedAt);
    // 13 generations as maps still fit one unit (DynamoDB's size: 966 bytes), so they stay maps.
    expect(await generationsItem()).not.toHaveProperty('generationTimes');
    for (const receivedAt of times.slice(13)) await s.resolveContentId(KEY, receivedAt);
    const large = await generationsItem();
    expect(large).not.toHaveProperty('generations');
    expect(large.generationTimes).toEqual(times.flatMap((t) => [Date.parse(t), 0]));
    expect(large).toMatchObject({ version: 14, entity: 'generations', expiresAt: Math.floor((Date.parse(times[13]) + WINDOW_MS) / 1000) + 86_400 });
  });

  it('outlives the webhook items it names, so a copy redriven from the dead-letter queue days later still joins its event', async () => {
    const retentionSeconds = 30 * 86_400;
    let now = T0;
    const s = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds, leaseMs: 30_000, contentDedupWindowMs: WINDOW_MS, now: () => now });
    const first = await s.resolveContentId(KEY, at(T0));
    const webhookExpiresAt = await claimedExpiry(s, first);
    const generations = await generationsItem();
    expect(generations.expiresAt).toBe(Math.floor((T0 + WINDOW_MS) / 1000) + retentionSeconds);
    expect(generations.expiresAt).toBeGreaterThanOrEqual(webhookExpiresAt);
    // Makini's retry, received 30 s after the first copy, redriven from the DLQ 13 days later.
    now = T0 + 13 * 86_400_000;
    expect(await s.resolveContentId(KEY, at(T0 + 30_000))).toBe(first);
  });

  it('outlives the webhook item it names when its first copy is processed days after it was received (redriven from the dead-letter queue)', async () => {
    // 7 days of history (historyRetentionDays 3, dedupWindowDays 7): less than the queue keeps a dead letter.
    const retentionSeconds = 7 * 86_400;
    const now = T0 + 10 * 86_400_000;
    const s = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds, leaseMs: 30_000, contentDedupWindowMs: WINDOW_MS, now: () => now });
    const first = await s.resolveContentId(KEY, at(T0));
    const webhookExpiresAt = await claimedExpiry(s, first);
    const generations = await generationsItem();
    // Counted from when it was written, not from the copy's receive time (which gave an item expired when written).
    expect(generations.expiresAt).toBe(Math.floor((now + WINDOW_MS) / 1000) + retentionSeconds);
    expect(generations.expiresAt).toBeGreaterThanOrEqual(webhookExpiresAt);
  });

  it("is written again, to outlive the webhook item, when a copy that joins it is processed after the item would expire (its first attempt's claim failed, redriven days later); a copy processed in its window writes nothing", async () => {
    const retentionSeconds = 7 * 86_400;
    let now = T0;
    const recorder = putCapacityRecorder(dynamo.doc, 'generations');
    const s = new DynamoDbEventStore(recorder.client, { tableName: dynamo.tableName, retentionSeconds, leaseMs: 30_000, contentDedupWindowMs: WINDOW_MS, now: () => now });
    // The first attempt writes the generations item; its claim fails (a throttle, a timeout): no webhook item.
    const first = await s.resolveContentId(KEY, at(T0));
    expect(recorder.units).toHaveLength(1);
    // Makini's retry, processed in its window, joins and writes nothing (a duplicate stays 1 unit),
    // even at the window's very end, when the item expires exactly with a webhook item claimed now.
    now = T0 + 60_000;
    expect(await s.resolveContentId(KEY, at(T0 + 30_000))).toBe(first);
    now = T0 + WINDOW_MS;
    expect(await s.resolveContentId(KEY, at(T0 + 30_000))).toBe(first);
    expect(recorder.units).toHaveLength(1);
    // Redriven from the dead-letter queue ten days later: it joins, and the item is written again (1 unit).
    now = T0 + 10 * 86_400_000;
    expect(await s.resolveContentId(KEY, at(T0))).toBe(first);
    expect(recorder.units).toEqual([1, 1]);
    const webhookExpiresAt = await claimedExpiry(s, first);
    const generations = await generationsItem();
    expect(generations).toMatchObject({ version: 2, generations: [{ start: at(T0), from: at(T0) }], expiresAt: Math.floor((now + WINDOW_MS) / 1000) + retentionSeconds });
    expect(generations.expiresAt).toBeGreaterThanOrEqual(webhookExpiresAt);
    // Another copy of the same redrive, a second later, joins without writing again.
    now += 1_000;
    expect(await s.resolveContentId(KEY, at(T0 + 30_000))).toBe(first);
    expect(recorder.units).toHaveLength(2);
  });

  it('decides every copy as the pure fold does, joins and late first copies included, in either form', async () => {
    const s = store();
    let folded: Generation[] = [];
    // New events 20 minutes apart, each with a retry 5 minutes later, and every third one a copy
    // received 3 minutes before its first (processed after it: the window moves back).
    const copies = hourly(36).flatMap((t, i) => [t, at(Date.parse(t) + 5 * MINUTE), ...(i % 3 === 0 ? [at(Date.parse(t) - 3 * MINUTE)] : [])]);
    for (const receivedAt of copies) {
      const decision = contentGeneration(receivedAt, folded, WINDOW_MS);
      const expected = contentEventId(KEY, decision.kind === 'join' ? decision.start : receivedAt);
      folded = nextGenerations(folded, decision, receivedAt) ?? folded;
      expect(await s.resolveContentId(KEY, receivedAt)).toBe(expected);
    }
    expect(readGenerations(await generationsItem())).toEqual(folded);
    expect(folded.some((g) => g.from < g.start)).toBe(true);
    expect(units.every((u) => u === 1)).toBe(true);
  });

  it('decides as the pure fold for times before 1970, far in the future and with milliseconds, in under 1 KB', async () => {
    for (const t0 of [Date.parse('1969-06-01T00:00:00.123Z'), Date.parse('+275000-01-01T00:00:00.000Z'), Date.parse('-200000-01-01T00:00:00.000Z'), T0 + 987]) {
      const key = `sha256:${String(Math.abs(t0)).padStart(64, '0').slice(-64)}`;
      const s = store();
      let folded: Generation[] = [];
      const copies = Array.from({ length: 40 }, (_, i) => t0 + i * 20 * MINUTE).flatMap((t, i) => [at(t + (i % 7) * 1001), at(t + 5 * MINUTE), ...(i % 3 === 0 ? [at(t - 3 * MINUTE - i)] : [])]);
      for (const receivedAt of copies) {
        const decision = contentGeneration(receivedAt, folded, WINDOW_MS);
        const expected = contentEventId(key, decision.kind === 'join' ? decision.start : receivedAt);
        folded = nextGenerations(folded, decision, receivedAt) ?? folded;
        expect(await s.resolveContentId(key, receivedAt)).toBe(expected);
      }
      const stored = (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: `CONTENT#${key}`, sk: 'GENERATION' } }))).Item ?? {};
      expect(stored).toHaveProperty('generationTimes');
      expect(readGenerations(stored)).toEqual(folded);
      expect(units.every((u) => u === 1)).toBe(true);
    }
  });

  it('reads maps an earlier version wrote past one unit, and rewrites them as numbers at the next new generation', async () => {
    const old = hourly(20).map((t) => ({ start: t, from: t }));
    expect(await putMaps(old, 7)).toBe(2);
    const s = store();
    // A retry of the third event joins it without a write.
    expect(await s.resolveContentId(KEY, at(Date.parse(old[2].start) + MINUTE))).toBe(contentEventId(KEY, old[2].start));
    expect(units).toEqual([]);
    const next = at(T0 + 20 * 20 * MINUTE);
    expect(await s.resolveContentId(KEY, next)).toBe(contentEventId(KEY, next));
    const item = await generationsItem();
    expect(item).not.toHaveProperty('generations');
    expect(item.version).toBe(8);
    expect(readGenerations(item)).toEqual([...old, { start: next, from: next }]);
    expect(units).toEqual([2]); // DynamoDB bills the larger of before and after, once
  });

  it('keeps maps for times that would not read back as the same string, so every event keeps its id', async () => {
    const s = store();
    const times = hourly(20).map((t) => t.replace('.000Z', 'Z'));
    for (const receivedAt of times) expect(await s.resolveContentId(KEY, receivedAt)).toBe(contentEventId(KEY, receivedAt));
    const item = await generationsItem();
    expect(item).not.toHaveProperty('generationTimes');
    expect((item.generations as Generation[]).map((g) => g.start)).toEqual(times);
    expect(await s.resolveContentId(KEY, at(Date.parse(times[19]) + MINUTE))).toBe(contentEventId(KEY, times[19]));
  });
});

describe('a generations item without a version', () => {
  it('is written over, as an early development build left it (not a conflict lost eight times)', async () => {
    await dynamo.doc.send(new PutCommand({ TableName: dynamo.tableName, Item: { pk: `CONTENT#${KEY}`, sk: 'GENERATION', entity: 'generation', start: at(T0 - 60 * MINUTE), expiresAt: 1_800_000_000 } }));
    const receivedAt = at(T0);
    expect(await store().resolveContentId(KEY, receivedAt)).toBe(contentEventId(KEY, receivedAt));
    expect(await generationsItem()).toMatchObject({ version: 1, generations: [{ start: receivedAt, from: receivedAt }] });
    expect(units).toEqual([1]);
  });
});

describe('withGenerations and readGenerations', () => {
  const item = { pk: `CONTENT#${KEY}`, sk: 'GENERATION', entity: 'generations', version: 1, expiresAt: 1_800_000_000 };

  it('store [start in ms, ms from is before start, …], the form other versions read', () => {
    const generations = hourly(20).map((t, i) => ({ start: t, from: at(Date.parse(t) - i * 1000) }));
    expect(withGenerations(item, generations)).toEqual({ ...item, generationTimes: generations.flatMap((g, i) => [Date.parse(g.start), i * 1000]) });
  });

  it('keep maps if a single start would not read back the same, and take any form of `from` as its time', () => {
    const canonical = hourly(20).map((t) => ({ start: t, from: t }));
    const oneOdd = canonical.map((g, i) => (i === 7 ? { start: g.start.replace('.000Z', 'Z'), from: g.from } : g));
    expect(withGenerations(item, oneOdd)).toEqual({ ...item, generations: oneOdd });
    const oddFroms = canonical.map((g) => ({ start: g.start, from: g.from.replace('.000Z', '+00:00') }));
    expect(readGenerations(withGenerations(item, oddFroms))).toEqual(canonical);
  });

  it('round-trip any generations, in either form', () => {
    for (const n of [0, 1, 12, 13, 32]) {
      const generations = hourly(n).map((t, i) => ({ start: t, from: at(Date.parse(t) - (i % 4) * MINUTE) }));
      expect(readGenerations(withGenerations(item, generations))).toEqual(generations);
    }
  });

  it('switch to numbers exactly when maps would cost a second write unit', async () => {
    const forms: string[] = [];
    for (let n = 0; n <= 20; n++) {
      const generations = hourly(n).map((t) => ({ start: at(Date.parse(t) + 123), from: at(Date.parse(t) + 123) }));
      const form = 'generations' in withGenerations(item, generations) ? 'maps' : 'numbers';
      forms.push(form);
      expect(form).toBe((await putMaps(generations, 1)) > 1 ? 'numbers' : 'maps');
    }
    expect(forms.indexOf('numbers')).toBe(14);
  });

  it('read an item without generations as none', () => {
    expect(readGenerations({ version: 3 })).toEqual([]);
    expect(readGenerations({ generations: 'not a list' })).toEqual([]);
  });
});
