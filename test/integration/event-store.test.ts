import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { finishProcessed, processMessage, WebhookBusyError, type RecordOutcome } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

let dynamo: LocalDynamo;
let clock: number;
let store: DynamoDbEventStore;

beforeEach(async () => {
  dynamo = await startDynalite();
  clock = Date.parse('2026-11-22T06:00:00Z');
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => clock });
});
afterEach(async () => dynamo.close());

let deliveryCounter = 0;
/** One SQS delivery of a webhook, as the receiver enqueues it. */
function delivery(body: unknown, webhookId = (body as { id: string }).id) {
  const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return { deliveryId: `msg-${++deliveryCounter}`, body: encodeEnvelope({ webhookId, receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, raw) };
}
const statusEvent = (id: string, status: 'online' | 'offline', at: string, connection = 'conn_1') => ({ id, type: 'connection.status_changed', timestamp: at, connection_id: connection, data: { status } });

/** Processes and completes, as the consumer does for a batch of one. */
async function consume(message: ReturnType<typeof delivery>): Promise<RecordOutcome> {
  const outcome = await processMessage(message, store, DEFAULT_CONFIG);
  if (outcome.kind === 'processed') await finishProcessed(outcome, store);
  return outcome;
}

describe('DynamoDbEventStore with processMessage, on dynalite', () => {
  it('applies a new webhook to its connection and records it in the history', async () => {
    const outcome = await consume(delivery(statusEvent('evt_1', 'offline', '2026-11-22T05:00:00Z')));
    expect(outcome).toMatchObject({ kind: 'processed', message: { stale: false, transition: { from: 'unknown', to: 'offline' } } });
    expect(await store.getConnection('conn_1')).toMatchObject({ status: 'offline', statusEventId: 'evt_1', lastEventAt: '2026-11-22T05:00:00.000000000Z' });
    expect(await store.listEvents('conn_1')).toEqual([expect.objectContaining({ webhookId: 'evt_1', status: 'DONE', deliveries: 1, stale: false, type: 'connection.status_changed' })]);
  });

  it('processes N sequential copies once, counting N deliveries', async () => {
    const body = statusEvent('evt_dup', 'online', '2026-11-22T05:00:00Z');
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await consume(delivery(body)));
    expect(outcomes.map((o) => o.kind)).toEqual(['processed', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect((await store.getWebhook('evt_dup'))?.deliveries).toBe(5);
    expect(await store.listEvents('conn_1')).toHaveLength(1);
  });

  it('processes N concurrent copies once: the others wait, then count as duplicates', async () => {
    const body = statusEvent('evt_conc', 'online', '2026-11-22T05:00:00Z');
    const copies = Array.from({ length: 8 }, () => delivery(body));
    const first = await Promise.allSettled(copies.map((c) => processMessage(c, store, DEFAULT_CONFIG)));
    const processed = first.filter((r) => r.status === 'fulfilled' && r.value.kind === 'processed');
    const busy = first.filter((r) => r.status === 'rejected');
    expect(processed).toHaveLength(1);
    expect(busy).toHaveLength(7); // not vacuous: every other copy waited
    for (const r of busy) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WebhookBusyError);
    await finishProcessed((processed[0] as PromiseFulfilledResult<Extract<RecordOutcome, { kind: 'processed' }>>).value, store);

    // SQS redelivers what failed; by then the first copy has completed.
    const retried = await Promise.all(copies.filter((_, i) => first[i].status === 'rejected').map((c) => processMessage(c, store, DEFAULT_CONFIG)));
    expect(retried.map((o) => o.kind)).toEqual(Array(7).fill('duplicate'));
    expect((await store.getWebhook('evt_conc'))?.deliveries).toBe(8);
  });

  it('records a stale event, marked stale, without moving the state back', async () => {
    await consume(delivery(statusEvent('evt_new', 'online', '2026-11-22T05:10:00Z')));
    const outcome = await consume(delivery(statusEvent('evt_old', 'offline', '2026-11-22T05:00:00Z')));
    expect(outcome).toMatchObject({ kind: 'processed', message: { stale: true } });
    expect((await store.getConnection('conn_1'))?.status).toBe('online');
    expect((await store.listEvents('conn_1')).map((e) => [e.webhookId, e.stale])).toEqual([
      ['evt_new', false],
      ['evt_old', true],
    ]);
  });

  it('flags the same id with a different body, keeps that copy aside and leaves the original intact', async () => {
    await consume(delivery(statusEvent('evt_same', 'online', '2026-11-22T05:00:00Z')));
    const outcome = await consume(delivery(statusEvent('evt_same', 'offline', '2026-11-22T05:00:00Z')));
    expect(outcome.kind).toBe('mismatch');
    expect((await store.getConnection('conn_1'))?.status).toBe('online');
    expect((await store.getWebhook('evt_same'))?.deliveries).toBe(1);
    const [kept] = await store.listMismatches();
    expect(kept.webhookId).toBe('evt_same');
    expect(JSON.parse(Buffer.from(kept.body).toString()).data.status).toBe('offline');
  });

  it('stores an unprocessable body raw with its reason, once', async () => {
    const message = delivery('["a JSON array is not an event"]', 'evt_bad');
    expect(await consume(message)).toMatchObject({ kind: 'unprocessable', reason: expect.stringMatching(/not a JSON object/) });
    expect(await consume({ ...message, deliveryId: 'msg-again' })).toMatchObject({ kind: 'duplicate', deliveries: 2 });
    const stored = await store.getWebhook('evt_bad');
    expect(stored).toMatchObject({ status: 'DONE', unprocessableReason: expect.stringMatching(/not a JSON object/) });
    expect(Buffer.from(stored!.body).toString()).toBe('["a JSON array is not an event"]');
  });

  it('keeps a message that is not an envelope at all, keyed by its content', async () => {
    const outcome = await consume({ deliveryId: 'msg-junk', body: 'garbage from elsewhere' });
    expect(outcome).toMatchObject({ kind: 'unprocessable', webhookId: expect.stringMatching(/^sha256:/) });
  });

  it('keeps the start of an unreadable message larger than a DynamoDB item, and says it was truncated', async () => {
    const body = 'x'.repeat(900_000); // SQS takes up to 1 MiB; one item holds 400 KB
    const outcome = await consume({ deliveryId: 'msg-big-junk', body });
    expect(outcome).toMatchObject({ kind: 'unprocessable', reason: expect.stringMatching(/body truncated: first 262144 of 900000 bytes kept/) });
    const stored = await store.getWebhook((outcome as { webhookId: string }).webhookId);
    expect(stored).toMatchObject({ status: 'DONE', unprocessableReason: expect.stringMatching(/truncated/) });
    expect(stored?.body.length).toBe(262_144);
  });

  it('repairs a crash between the state write and completion: the retry has no second effect', async () => {
    const message = delivery(statusEvent('evt_crash', 'offline', '2026-11-22T05:00:00Z'));
    const first = await processMessage(message, store, DEFAULT_CONFIG); // state written, then the Lambda "dies"
    expect(first.kind).toBe('processed');
    expect((await store.getWebhook('evt_crash'))?.status).toBe('PROCESSING');

    const retry = await consume(message); // SQS redelivers the same message
    expect(retry).toMatchObject({ kind: 'processed', message: { stale: false } });
    // The crash may have come before PutEvents: the retry carries the transition again (at least once;
    // the state itself moved once).
    expect(retry.kind === 'processed' && retry.message.transition).toEqual({ from: 'unknown', to: 'offline' });
    expect(await store.getWebhook('evt_crash')).toMatchObject({ status: 'DONE', deliveries: 1 });
    expect((await store.getConnection('conn_1'))?.status).toBe('offline');
  });

  it('lets another copy take over once the crashed owner’s lease has expired', async () => {
    const body = statusEvent('evt_lease', 'online', '2026-11-22T05:00:00Z');
    await processMessage(delivery(body), store, DEFAULT_CONFIG); // owner crashes before completing
    await expect(processMessage(delivery(body), store, DEFAULT_CONFIG)).rejects.toBeInstanceOf(WebhookBusyError);
    clock += 31_000;
    expect((await consume(delivery(body))).kind).toBe('processed');
    expect(await store.getWebhook('evt_lease')).toMatchObject({ status: 'DONE', deliveries: 3 });
  });

  it('lets exactly one of two copies take over an expired lease when both read it at the same moment', async () => {
    const body = statusEvent('evt_race', 'online', '2026-11-22T05:00:00Z');
    await processMessage(delivery(body), store, DEFAULT_CONFIG); // the owner crashes before completing
    clock += 31_000;
    // Each copy's claim answer is held until both copies have one: both see the same expired lease
    // and both try to take it over. Only the conditional write decides which one wins.
    let arrived = 0;
    let releaseBoth!: () => void;
    const bothClaimed = new Promise<void>((resolve) => (releaseBoth = resolve));
    const racingStore = () => {
      let held = false;
      const send = async (command: unknown) => {
        const answer = await dynamo.doc.send(command as UpdateCommand);
        if (command instanceof UpdateCommand && !held) {
          held = true;
          if (++arrived === 2) releaseBoth();
          await bothClaimed;
        }
        return answer;
      };
      const db = new Proxy(dynamo.doc, { get: (target, key) => (key === 'send' ? send : Reflect.get(target, key)) }) as DynamoDBDocumentClient;
      return new DynamoDbEventStore(db, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => clock });
    };
    const results = await Promise.allSettled([racingStore(), racingStore()].map((s) => processMessage(delivery(body), s, DEFAULT_CONFIG)));
    expect(arrived).toBe(2);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<RecordOutcome>).value.kind)).toEqual(['processed']);
    const [lost] = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(lost?.reason).toBeInstanceOf(WebhookBusyError);
  });

  it('renews the owner’s lease when SQS redelivers its message, so a copy arriving meanwhile waits instead of processing it twice', async () => {
    const body = statusEvent('evt_renew', 'online', '2026-11-22T05:00:00Z');
    const owner = delivery(body);
    await processMessage(owner, store, DEFAULT_CONFIG); // the owner's attempt fails after its claim
    clock += 6 * 30_000; // SQS redelivers after 6x the consumer timeout: the lease (1x) has run out
    await processMessage(owner, store, DEFAULT_CONFIG); // the owner's redelivery is processing again…
    clock += 1_000;
    // …when Makini's retry copy arrives: it must not take the claim over.
    await expect(processMessage(delivery(body), store, DEFAULT_CONFIG)).rejects.toBeInstanceOf(WebhookBusyError);
  });

  it('converges when many events of one connection are processed concurrently', async () => {
    const events = Array.from({ length: 12 }, (_, i) => statusEvent(`evt_c${String(i).padStart(2, '0')}`, i % 2 ? 'online' : 'offline', `2026-11-22T05:${String(i).padStart(2, '0')}:00Z`));
    await Promise.all(events.map((e) => consume(delivery(e))));
    expect(await store.getConnection('conn_1')).toMatchObject({ status: 'online', statusEventId: 'evt_c11', lastEventAt: '2026-11-22T05:11:00.000000000Z' });
    expect(await store.listEvents('conn_1', 100)).toHaveLength(12);
  });
});

describe("Makini's notifications on dynalite: deduplicated by content within the retry window", () => {
  const notification = { event: 'assets.updated', body: ['16c69269-0432-4382-b48f-eb3538b4b3d7'] };
  const contentKey = 'sha256:test-content-key';
  /** A copy of the notification, received at `clock`, as the receiver enqueues one without an id. */
  const copy = (connectionId?: string) => {
    const raw = Buffer.from(JSON.stringify(notification));
    return {
      deliveryId: `msg-${++deliveryCounter}`,
      body: encodeEnvelope({ webhookId: contentKey, dedup: 'content', ...(connectionId && { connectionId }), receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, raw),
    };
  };
  const minutes = (n: number) => n * 60_000;

  it('collapses a byte-identical retry within 15 minutes into one event with two deliveries', async () => {
    const first = await consume(copy());
    expect(first).toMatchObject({ kind: 'processed', webhookId: `${contentKey}@2026-11-22T06:00:00.000Z` });
    clock += minutes(14);
    expect(await consume(copy())).toMatchObject({ kind: 'duplicate', webhookId: `${contentKey}@2026-11-22T06:00:00.000Z`, deliveries: 2 });
  });

  it('treats the same bytes after the window as a new event: a second genuine update of the asset', async () => {
    await consume(copy());
    clock += minutes(15);
    const second = await consume(copy());
    expect(second).toMatchObject({ kind: 'processed', webhookId: `${contentKey}@2026-11-22T06:15:00.000Z` });
    clock += minutes(1);
    // A retry of the second event joins the second, not the first.
    expect(await consume(copy())).toMatchObject({ kind: 'duplicate', webhookId: `${contentKey}@2026-11-22T06:15:00.000Z`, deliveries: 2 });
    expect((await store.listAllEvents()).map((e) => e.webhookId).sort()).toEqual([`${contentKey}@2026-11-22T06:00:00.000Z`, `${contentKey}@2026-11-22T06:15:00.000Z`]);
  });

  it('joins a copy received before the event began when it is processed later, and keeps a much older one apart', async () => {
    const early = copy(); // received at 06:00, delayed in the queue
    clock += minutes(5);
    await consume(copy()); // received at 06:05, processed first
    expect(await consume(early)).toMatchObject({ kind: 'duplicate', webhookId: `${contentKey}@2026-11-22T06:05:00.000Z` });
    const ancient = { ...early, body: early.body.replace('2026-11-22T06:00:00.000Z', '2026-11-22T05:30:00.000Z'), deliveryId: 'msg-ancient' };
    expect(await consume(ancient)).toMatchObject({ kind: 'processed', webhookId: `${contentKey}@2026-11-22T05:30:00.000Z` });
    clock += minutes(1); // the pointer still names the 06:05 event
    expect(await consume(copy())).toMatchObject({ kind: 'duplicate', webhookId: `${contentKey}@2026-11-22T06:05:00.000Z` });
  });

  it('starts exactly one event when copies race past the window', async () => {
    await consume(copy());
    clock += minutes(20);
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => consume(copy())));
    const done = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(new Set(done.map((o) => o.webhookId))).toEqual(new Set([`${contentKey}@2026-11-22T06:20:00.000Z`]));
    expect(done.filter((o) => o.kind === 'processed').length).toBeLessThanOrEqual(1);
    expect(await store.getWebhook(`${contentKey}@2026-11-22T06:20:00.000Z`)).toMatchObject({ deliveries: 6 });
  });

  it('keeps an event without a connection in the history, on its own index partition, and changes no state', async () => {
    const outcome = await consume(copy());
    expect(outcome).toMatchObject({ kind: 'processed', message: { stale: false, event: { type: 'assets.updated', entity: 'assets', action: 'updated', ids: notification.body } } });
    expect(outcome.kind === 'processed' && outcome.message).not.toHaveProperty('state');
    expect(await store.listConnections()).toEqual([]);
    expect((await store.listEvents(undefined)).map((e) => e.type)).toEqual(['assets.updated']);
    expect((await store.listAllEvents()).map((e) => e.webhookId)).toEqual([outcome.webhookId]);
  });

  it('attributes a copy posted to a per-connection URL to that connection', async () => {
    const outcome = await consume(copy('conn_url'));
    expect(outcome).toMatchObject({ kind: 'processed', connectionId: 'conn_url', message: { state: { connectionId: 'conn_url', status: 'unknown' } } });
    expect((await store.listEvents('conn_url')).map((e) => e.connectionId)).toEqual(['conn_url']);
    expect((await store.getConnection('conn_url'))?.lastWebhookAt).toBe('2026-11-22T06:00:00.000Z');
  });
});

describe('connection-status notifications mark connections for a poll', () => {
  it('records the request on the poll record, where the poller keeps it until a later poll', async () => {
    const body = { event: 'connections.updated', body: ['conn_a', 'conn_b'] };
    await consume({ deliveryId: 'msg-conn', body: encodeEnvelope({ webhookId: 'sha256:k', dedup: 'content', receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, Buffer.from(JSON.stringify(body))) });
    const [a] = await store.loadCandidates(['conn_a']);
    expect(a.poll?.pollRequestedAt).toBe('2026-11-22T06:00:00.000Z');

    // The poller saves its record without touching the request, even one made meanwhile.
    await store.requestPolls(['conn_a'], '2026-11-22T06:00:30.000Z');
    await store.savePollRecord({ connectionId: 'conn_a', lastPolledAt: '2026-11-22T06:00:20.000Z', lastOutcome: 'ok', consecutiveFailures: 0, pending: {} });
    const [after] = await store.loadCandidates(['conn_a']);
    expect(after.poll).toMatchObject({ lastPolledAt: '2026-11-22T06:00:20.000Z', lastOutcome: 'ok', pollRequestedAt: '2026-11-22T06:00:30.000Z' });

    // A record without an error removes the previous one.
    await store.savePollRecord({ connectionId: 'conn_a', lastPolledAt: '2026-11-22T06:01:00.000Z', lastOutcome: 'failed', lastError: 'boom', consecutiveFailures: 1, pending: {} });
    await store.savePollRecord({ connectionId: 'conn_a', lastPolledAt: '2026-11-22T06:02:00.000Z', lastOutcome: 'ok', consecutiveFailures: 0, pending: {} });
    expect((await store.loadCandidates(['conn_a']))[0].poll).not.toHaveProperty('lastError');
  });
});

describe('connection state written before event times had nine fractional digits', () => {
  it('is read in today’s form, so a later event in the same millisecond is not stale', async () => {
    await dynamo.doc.send(
      new PutCommand({
        TableName: dynamo.tableName,
        Item: { pk: 'CONNECTION#conn_old', sk: 'STATE', entity: 'connection', connectionId: 'conn_old', status: 'offline', statusAt: '2026-11-22T05:00:00.500Z', statusEventId: 'evt_b', lastEventAt: '2026-11-22T05:00:00.500Z', lastEventId: 'evt_b', version: 1 },
      }),
    );
    expect(await store.getConnection('conn_old')).toMatchObject({ statusAt: '2026-11-22T05:00:00.500000000Z' });
    const later = { id: 'evt_a', type: 'connection.status_changed', timestamp: '2026-11-22T05:00:00.5003Z', connection_id: 'conn_old', data: { status: 'online' } };
    expect(await consume(delivery(later))).toMatchObject({ kind: 'processed', message: { stale: false, state: { status: 'online', statusAt: '2026-11-22T05:00:00.500300000Z' } } });
  });
});
