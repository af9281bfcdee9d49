/**
 * The DynamoDB event store's own contract, call by call, on dynalite: what it writes (versions,
 * expiry times), how it retries a lost race and when it gives up, its poll lease, and the operator
 * listings (order, limits, pages). A race or a throttled answer is staged by a hook on the real
 * client that acts just before a command reaches dynalite: another writer's write, or DynamoDB's
 * documented answers (an error, keys left unprocessed).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEventStore, eventStoreOptions, type DynamoDbEventStoreOptions } from '../../lambdas/adapters/dynamodb-event-store';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import type { Applied, ConnectionState } from '../../lambdas/core/connection-state';
import { finishProcessed, messageEventId, processMessage } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import type { PollRecord } from '../../lambdas/core/poll';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

/** A command as the hook sees it: instanceof tells which. */
type Command = object;
/** The real client, with `hook` deciding what each command does (by default: send it). */
type Hook = (command: Command, send: (command: Command) => Promise<unknown>) => Promise<unknown>;

const MINUTE = 60_000;
const WINDOW_MS = 15 * MINUTE;
const RETENTION_SECONDS = 7 * 86_400;

let dynamo: LocalDynamo;
let clock: number;
let hook: Hook | undefined;
let sent: Command[];

beforeEach(async () => {
  dynamo = await startDynalite();
  clock = Date.parse('2026-11-22T06:00:00Z');
  hook = undefined;
  sent = [];
});
afterEach(async () => dynamo.close());

function storeWith(options: Partial<DynamoDbEventStoreOptions> = {}): DynamoDbEventStore {
  const send = (command: Command) => dynamo.doc.send(command as never) as Promise<unknown>;
  const client = {
    send: (command: Command) => {
      sent.push(command);
      return hook ? hook(command, send) : send(command);
    },
  } as unknown as DynamoDBDocumentClient;
  return new DynamoDbEventStore(client, { tableName: dynamo.tableName, retentionSeconds: RETENTION_SECONDS, leaseMs: 30_000, contentDedupWindowMs: WINDOW_MS, now: () => clock, ...options });
}

async function rawItem(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
  return (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk, sk } }))).Item;
}

let deliveryCounter = 0;
function delivery(body: Record<string, unknown>) {
  return { deliveryId: `msg-${++deliveryCounter}`, body: encodeEnvelope({ webhookId: String(body.id), receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, Buffer.from(JSON.stringify(body))) };
}
const statusEvent = (id: string, at: string, connection = 'conn_1', extra: Record<string, unknown> = {}) => ({ id, type: 'connection.status_changed', timestamp: at, connection_id: connection, data: { status: 'online', ...extra } });

async function consume(store: DynamoDbEventStore, body: Record<string, unknown>) {
  const outcome = await processMessage(delivery(body), store, DEFAULT_CONFIG);
  if (outcome.kind === 'processed') await finishProcessed(outcome, store);
  return outcome;
}

describe('eventStoreOptions', () => {
  it('keeps webhook items the longer of the dedup window and the history, leases for the consumer timeout, and windows content in minutes', () => {
    const config = { dedupWindowDays: 3, historyRetentionDays: 7, consumerTimeoutSeconds: 30, contentDedupWindowMinutes: 15 };
    expect(eventStoreOptions(config, 't')).toEqual({ tableName: 't', retentionSeconds: 7 * 86_400, leaseMs: 30_000, contentDedupWindowMs: 15 * MINUTE });
    expect(eventStoreOptions({ ...config, dedupWindowDays: 9 }, 't').retentionSeconds).toBe(9 * 86_400);
  });
});

describe('content ids (resolveContentId, findContentId)', () => {
  const key = 'sha256:edge';
  const generationsItem = () => rawItem(`CONTENT#${key}`, 'GENERATION');
  // As long after the newest window closes as a webhook item lives after its claim (a day until 2026-12-03: a redriven retry became a new event).
  const expiryAfter = (start: string) => Math.floor((Date.parse(start) + WINDOW_MS) / 1000) + RETENTION_SECONDS;

  it('versions the generations item and expires it as long after its newest window closes as a webhook item lives', async () => {
    const store = storeWith();
    expect(await store.resolveContentId(key, '2026-11-22T06:00:00.000Z')).toBe(`${key}@2026-11-22T06:00:00.000Z`);
    expect(await generationsItem()).toMatchObject({ version: 1, expiresAt: expiryAfter('2026-11-22T06:00:00.000Z') });
    expect(await store.resolveContentId(key, '2026-11-22T06:20:00.000Z')).toBe(`${key}@2026-11-22T06:20:00.000Z`);
    expect(await generationsItem()).toMatchObject({ version: 2, expiresAt: expiryAfter('2026-11-22T06:20:00.000Z') });
  });

  it('finds the id a copy would get without writing: the open event’s within its window, a new one after it', async () => {
    const store = storeWith();
    await store.resolveContentId(key, '2026-11-22T06:00:00.000Z');
    expect(await store.findContentId(key, '2026-11-22T06:05:00.000Z')).toBe(`${key}@2026-11-22T06:00:00.000Z`);
    expect(await store.findContentId(key, '2026-11-22T06:30:00.000Z')).toBe(`${key}@2026-11-22T06:30:00.000Z`);
    expect(await generationsItem()).toMatchObject({ version: 1 });
  });

  /** Another copy writes the generations just before each of this store's writes, `times` times. */
  function raceGenerations(times: number) {
    let writes = 0;
    hook = async (command, send) => {
      if (command instanceof PutCommand && command.input.Item?.entity === 'generations' && ++writes <= times) {
        await send(new PutCommand({ TableName: dynamo.tableName, Item: { pk: `CONTENT#${key}`, sk: 'GENERATION', entity: 'generations', generations: [], version: 100 + writes } }));
      }
      return send(command);
    };
    return { writes: () => writes };
  }

  it('decides again when another copy wrote the generations meanwhile', async () => {
    const race = raceGenerations(1);
    expect(await storeWith().resolveContentId(key, '2026-11-22T06:00:00.000Z')).toBe(`${key}@2026-11-22T06:00:00.000Z`);
    expect(race.writes()).toBe(2);
    expect(await generationsItem()).toMatchObject({ version: 102 });
  });

  it('gives up after maxStateAttempts lost races, 8 by default, with DynamoDB’s error', async () => {
    let race = raceGenerations(50); // more than any bound: a mutant retrying forever would stop losing after 50
    await expect(storeWith({ maxStateAttempts: 3 }).resolveContentId(key, '2026-11-22T06:00:00.000Z')).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(race.writes()).toBe(3);
    race = raceGenerations(50);
    await expect(storeWith().resolveContentId(key, '2026-11-22T06:00:00.000Z')).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(race.writes()).toBe(8);
  });

  it('does not retry an error other than a lost race', async () => {
    let writes = 0;
    hook = async (command, send) => {
      if (command instanceof PutCommand && ++writes === 1) throw new Error('throttled');
      return send(command);
    };
    await expect(storeWith().resolveContentId(key, '2026-11-22T06:00:00.000Z')).rejects.toThrow('throttled');
    expect(writes).toBe(1);
  });
});

describe('claims and state writes', () => {
  it('expires a webhook item and a mismatched copy after the retention, and versions the connection state', async () => {
    const store = storeWith();
    await consume(store, statusEvent('evt_1', '2026-11-22T05:00:00Z'));
    const expiresAt = Math.floor(clock / 1000) + RETENTION_SECONDS;
    expect(await rawItem('WEBHOOK#evt_1', 'WEBHOOK')).toMatchObject({ expiresAt });
    expect(await rawItem('CONNECTION#conn_1', 'STATE')).toMatchObject({ version: 1 });
    await consume(store, statusEvent('evt_2', '2026-11-22T05:01:00Z', 'conn_1', { status: 'offline' }));
    expect(await rawItem('CONNECTION#conn_1', 'STATE')).toMatchObject({ version: 2, status: 'offline' });

    clock += 1_000;
    expect(await consume(store, statusEvent('evt_1', '2026-11-22T05:00:00Z', 'conn_1', { note: 'another body' }))).toMatchObject({ kind: 'mismatch' });
    const [mismatch] = (await store.listMismatches()).map((m) => m.webhookId);
    expect(mismatch).toBe('evt_1');
    const { Items = [] } = await dynamo.doc.send(new QueryCommand({ TableName: dynamo.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'WEBHOOK#evt_1' } }));
    expect(Items.find((i) => String(i.sk).startsWith('MISMATCH#'))).toMatchObject({ expiresAt: Math.floor(clock / 1000) + RETENTION_SECONDS });
  });

  it('fails a claim whose write failed for another reason than a different body, keeping no mismatch', async () => {
    hook = async (command, send) => {
      if (command instanceof UpdateCommand && command.input.Key?.sk === 'WEBHOOK') throw new Error('throttled');
      return send(command);
    };
    const store = storeWith();
    await expect(processMessage(delivery(statusEvent('evt_1', '2026-11-22T05:00:00Z')), store, DEFAULT_CONFIG)).rejects.toThrow('throttled');
    hook = undefined;
    expect(await store.listMismatches()).toEqual([]);
  });

  it('passes on a takeover that failed for another reason than a lost race, rather than calling the webhook busy', async () => {
    const store = storeWith();
    const body = statusEvent('evt_1', '2026-11-22T05:00:00Z');
    await processMessage(delivery(body), store, DEFAULT_CONFIG); // the owner crashes before completing
    clock += 31_000; // its lease has run out
    hook = async (command, send) => {
      if (command instanceof UpdateCommand && String(command.input.ConditionExpression).includes(':previousLease')) throw new Error('throttled');
      return send(command);
    };
    await expect(processMessage(delivery(body), store, DEFAULT_CONFIG)).rejects.toThrow('throttled');
  });

  it('reads content generations, webhooks and connection state strongly consistently', async () => {
    const store = storeWith();
    await store.resolveContentId('sha256:k', '2026-11-22T06:00:00.000Z');
    await consume(store, statusEvent('evt_1', '2026-11-22T05:00:00Z'));
    await store.getConnection('conn_1');
    await store.getWebhook('evt_1');
    const gets = sent.filter((c): c is GetCommand => c instanceof GetCommand);
    expect(gets.map((g) => String(g.input.Key?.sk)).sort()).toEqual(['GENERATION', 'STATE', 'STATE', 'WEBHOOK']);
    for (const get of gets) expect(get.input.ConsistentRead).toBe(true);
  });

  /** Another writer moves the connection's state on just before each of this store's state writes, `times` times. */
  function raceState(times: number) {
    let writes = 0;
    hook = async (command, send) => {
      if (command instanceof PutCommand && command.input.Item?.entity === 'connection' && ++writes <= times) {
        const current = await rawItem('CONNECTION#conn_1', 'STATE');
        const version = typeof current?.version === 'number' ? current.version : 0;
        await send(new PutCommand({ TableName: dynamo.tableName, Item: { pk: 'CONNECTION#conn_1', sk: 'STATE', entity: 'connection', connectionId: 'conn_1', status: 'offline', lastWebhookAt: `2026-11-22T05:0${writes % 10}:00.000Z`, version: version + 1 } }));
      }
      return send(command);
    };
    return { writes: () => writes };
  }
  const goOnline = (state: ConnectionState): Applied => ({ state: { ...state, status: 'online', statusAt: '2026-11-22T05:30:00.000000000Z', statusEventId: 'evt_1' }, stale: false, changed: true });

  it('reads the state again and applies the update to it when another writer moved it meanwhile', async () => {
    const race = raceState(1);
    const seen: ConnectionState[] = [];
    await storeWith().updateConnection('conn_1', (state) => (seen.push(state), goOnline(state)));
    expect(race.writes()).toBe(2);
    expect(seen.map((s) => s.lastWebhookAt)).toEqual([undefined, '2026-11-22T05:01:00.000Z']);
    expect(await rawItem('CONNECTION#conn_1', 'STATE')).toMatchObject({ version: 2, status: 'online', lastWebhookAt: '2026-11-22T05:01:00.000Z' });
  });

  it('gives up on the state after maxStateAttempts lost races, 8 by default, with DynamoDB’s error', async () => {
    let race = raceState(50); // more than any bound: a mutant retrying forever would stop losing after 50
    await expect(storeWith({ maxStateAttempts: 3 }).updateConnection('conn_1', goOnline)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(race.writes()).toBe(3);
    race = raceState(50);
    await expect(storeWith().updateConnection('conn_1', goOnline)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(race.writes()).toBe(8);
  });

  it('does not retry a state write that failed for another reason than a lost race', async () => {
    let writes = 0;
    hook = async (command, send) => {
      if (command instanceof PutCommand && ++writes === 1) throw new Error('throttled');
      return send(command);
    };
    await expect(storeWith().updateConnection('conn_1', goOnline)).rejects.toThrow('throttled');
    expect(writes).toBe(1);
    expect(await rawItem('CONNECTION#conn_1', 'STATE')).toBeUndefined();
  });

  it('keeps the first 1,000 characters of a failure on the webhook item, and creates no item for an unknown webhook', async () => {
    const store = storeWith();
    await processMessage(delivery(statusEvent('evt_1', '2026-11-22T05:00:00Z')), store, DEFAULT_CONFIG);
    await store.noteFailure('evt_1', `${'x'.repeat(999)}yz`);
    expect(await rawItem('WEBHOOK#evt_1', 'WEBHOOK')).toMatchObject({ lastError: `${'x'.repeat(999)}y`, lastErrorAt: new Date(clock).toISOString() });
    await store.noteFailure('evt_unknown', 'boom');
    expect(await rawItem('WEBHOOK#evt_unknown', 'WEBHOOK')).toBeUndefined();
  });
});

describe('poll requests and candidates', () => {
  it('saves a poll record with every optional field, then removes the fields a later record lacks', async () => {
    const store = storeWith();
    const full: PollRecord = {
      connectionId: 'conn_p',
      lastPolledAt: '2026-11-22T06:00:00.000Z',
      lastOutcome: 'failed',
      lastError: 'HTTP 503',
      consecutiveFailures: 3,
      openedAt: '2026-11-22T05:50:00.000Z',
      pending: { evt_poll: '{"id":"evt_poll"}' },
      deletedAt: '2026-11-22T06:00:00.000Z',
      reportedStatus: 'offline',
      reportedSyncStatus: 'failed',
    };
    await store.savePollRecord(full);
    expect((await store.loadCandidates(['conn_p']))[0]?.poll).toEqual(full);
    await store.savePollRecord({ connectionId: 'conn_p', consecutiveFailures: 0, pending: {} });
    expect((await store.loadCandidates(['conn_p']))[0]?.poll).toEqual({ connectionId: 'conn_p', consecutiveFailures: 0, pending: {} });
  });

  it('writes one poll request per connection, in chunks', async () => {
    const store = storeWith();
    const ids = Array.from({ length: 30 }, (_, i) => `conn_${String(i).padStart(2, '0')}`);
    await store.requestPolls(ids, '2026-11-22T06:00:00.000Z');
    expect(sent.filter((c) => c instanceof UpdateCommand)).toHaveLength(30);
    const candidates = await store.loadCandidates(ids);
    expect(candidates.map((c) => [c.connectionId, c.poll?.pollRequestedAt])).toEqual(ids.map((id) => [id, '2026-11-22T06:00:00.000Z']));
  });

  it('loads more connections than one BatchGetItem takes, each with its state and poll record only when it has one', async () => {
    const store = storeWith();
    await consume(store, statusEvent('evt_1', '2026-11-22T05:00:00Z', 'conn_state'));
    await store.requestPolls(['conn_poll'], '2026-11-22T06:00:00.000Z');
    const others = Array.from({ length: 58 }, (_, i) => `conn_none_${i}`);
    const candidates = await store.loadCandidates(['conn_state', 'conn_poll', ...others]); // 120 keys
    expect(candidates).toHaveLength(60);
    expect(candidates[0]).toEqual({ connectionId: 'conn_state', state: expect.objectContaining({ connectionId: 'conn_state', status: 'online' }) });
    expect(candidates[1]).toEqual({ connectionId: 'conn_poll', poll: expect.objectContaining({ pollRequestedAt: '2026-11-22T06:00:00.000Z' }) });
    expect(candidates.slice(2)).toEqual(others.map((connectionId) => ({ connectionId })));
    expect(sent.filter((c) => c instanceof BatchGetCommand)).toHaveLength(2);
  });

  /** DynamoDB leaves every key but the first unprocessed (a lone key too), `times` times. */
  function throttleBatchGets(times: number) {
    let calls = 0;
    hook = async (command, send) => {
      if (!(command instanceof BatchGetCommand)) return send(command);
      const [table, request] = Object.entries(command.input.RequestItems ?? {})[0];
      const keys = request.Keys ?? [];
      if (++calls > times) return send(command);
      if (keys.length < 2) return { Responses: { [table]: [] }, UnprocessedKeys: { [table]: { Keys: keys } } };
      const answer = (await send(new BatchGetCommand({ RequestItems: { [table]: { Keys: keys.slice(0, 1) } } }))) as Record<string, unknown>;
      return { ...answer, UnprocessedKeys: { [table]: { Keys: keys.slice(1) } } };
    };
    return { calls: () => calls };
  }

  it('retries the keys DynamoDB left unprocessed', async () => {
    const store = storeWith();
    await store.requestPolls(['conn_a', 'conn_b'], '2026-11-22T06:00:00.000Z');
    const throttle = throttleBatchGets(1);
    const candidates = await store.loadCandidates(['conn_a', 'conn_b']);
    expect(candidates.map((c) => c.poll?.pollRequestedAt)).toEqual(['2026-11-22T06:00:00.000Z', '2026-11-22T06:00:00.000Z']);
    expect(throttle.calls()).toBe(2);
  });

  it('takes an answer that completes on the 9th and last attempt', async () => {
    const store = storeWith();
    await store.requestPolls(['conn_a', 'conn_b'], '2026-11-22T06:00:00.000Z');
    const throttle = throttleBatchGets(8);
    expect((await store.loadCandidates(['conn_a', 'conn_b'])).map((c) => c.poll?.pollRequestedAt)).toEqual(['2026-11-22T06:00:00.000Z', '2026-11-22T06:00:00.000Z']);
    expect(throttle.calls()).toBe(9);
  }, 20_000);

  it('backs off between retries and gives up after 9 attempts', async () => {
    const store = storeWith();
    const throttle = throttleBatchGets(Number.POSITIVE_INFINITY);
    const started = Date.now();
    await expect(store.loadCandidates(['conn_a', 'conn_b'])).rejects.toThrow(/^DynamoDB left \d+ keys unprocessed after 9 attempts$/);
    expect(throttle.calls()).toBe(9);
    // 100 + 200 + 400 + 800 + 4 × 1000 ms of backoff (a timer fires at most a millisecond early).
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_500 - 10);
  }, 20_000);
});

describe('the poller’s run lease', () => {
  it('is taken only when free or expired (strictly before now), and given back only by its owner', async () => {
    const store = storeWith();
    expect(await store.acquirePollLease('run_a', 1_000, 5_000)).toBe(true);
    expect(await store.acquirePollLease('run_b', 2_000, 6_000)).toBe(false);
    expect(await store.acquirePollLease('run_b', 5_000, 6_000)).toBe(false);
    expect(await store.acquirePollLease('run_b', 5_001, 9_000)).toBe(true);

    await store.releasePollLease('run_a'); // no longer the owner: nothing changes
    expect(await store.acquirePollLease('run_c', 6_000, 10_000)).toBe(false);
    await store.releasePollLease('run_b');
    expect(await store.acquirePollLease('run_c', 6_000, 10_000)).toBe(true);
  });

  it('passes on errors other than a held lease', async () => {
    const store = storeWith();
    hook = async (command, send) => {
      if (command instanceof UpdateCommand && command.input.Key?.pk === 'POLLER') throw new Error('throttled');
      return send(command);
    };
    await expect(store.acquirePollLease('run_a', 1_000, 5_000)).rejects.toThrow('throttled');
    await expect(store.releasePollLease('run_a')).rejects.toThrow('throttled');
  });
});

describe('operator listings', () => {
  it('lists every polled connection in id order', async () => {
    const store = storeWith();
    for (const connectionId of ['conn_b', 'conn_c', 'conn_a']) await store.savePollRecord({ connectionId, consecutiveFailures: 0, pending: {} });
    expect(await store.listPolledConnectionIds()).toEqual(['conn_a', 'conn_b', 'conn_c']);
  });

  it('lists connections sorted by id, each with the state and poll record it has', async () => {
    const store = storeWith();
    for (const connection of ['conn_d', 'conn_b', 'conn_e']) await consume(store, statusEvent(`evt_${connection}`, '2026-11-22T05:00:00Z', connection));
    await store.requestPolls(['conn_c', 'conn_a', 'conn_b'], '2026-11-22T06:00:00.000Z');
    const listed = await store.listConnections();
    expect(listed.map((c) => [c.connectionId, c.state?.status, c.poll?.pollRequestedAt])).toEqual([
      ['conn_a', undefined, '2026-11-22T06:00:00.000Z'],
      ['conn_b', 'online', '2026-11-22T06:00:00.000Z'],
      ['conn_c', undefined, '2026-11-22T06:00:00.000Z'],
      ['conn_d', 'online', undefined],
      ['conn_e', 'online', undefined],
    ]);
    expect(listed[0]).toEqual({ connectionId: 'conn_a', poll: expect.objectContaining({ connectionId: 'conn_a' }) });
    expect(listed[3]).toEqual({ connectionId: 'conn_d', state: expect.objectContaining({ connectionId: 'conn_d' }) });
  });

  it('lists all events newest first by event time, ties by id descending, up to the limit', async () => {
    const store = storeWith();
    await consume(store, statusEvent('evt_b', '2026-11-22T05:01:00Z', 'conn_1'));
    await consume(store, statusEvent('evt_a', '2026-11-22T05:02:00Z', 'conn_2'));
    await consume(store, statusEvent('evt_c', '2026-11-22T05:01:00Z', 'conn_3'));
    expect((await store.listAllEvents()).map((e) => e.webhookId)).toEqual(['evt_a', 'evt_c', 'evt_b']);
    expect((await store.listAllEvents(2)).map((e) => e.webhookId)).toEqual(['evt_a', 'evt_c']);
  });

  it('reads a Scan past its first 1 MB page', async () => {
    const store = storeWith();
    const pad = 'x'.repeat(300_000); // five items of about 300 KB: more than one Scan page
    for (let i = 0; i < 5; i++) await consume(store, statusEvent(`evt_big_${i}`, `2026-11-22T05:0${i}:00Z`, 'conn_1', { pad }));
    expect((await store.listAllEvents()).map((e) => e.webhookId)).toEqual(['evt_big_4', 'evt_big_3', 'evt_big_2', 'evt_big_1', 'evt_big_0']);
  });

  it('leaves out an event whose item expired between the index query and the read', async () => {
    const store = storeWith();
    for (let i = 0; i < 2; i++) await consume(store, statusEvent(`evt_${i}`, `2026-11-22T05:0${i}:00Z`));
    hook = async (command, send) => {
      if (command instanceof BatchGetCommand) await send(new DeleteCommand({ TableName: dynamo.tableName, Key: { pk: 'WEBHOOK#evt_1', sk: 'WEBHOOK' } }));
      return send(command);
    };
    expect((await store.listEvents('conn_1')).map((e) => e.webhookId)).toEqual(['evt_0']);
  });

  it('reads a range of a connection’s events by event time, both ends included, however many newer ones there are', async () => {
    const store = storeWith();
    for (let i = 0; i < 8; i++) await consume(store, statusEvent(`evt_${i}`, `2026-11-22T05:0${i}:00Z`));
    // Two events at the range's last instant, with ids on either side of the sort key's `#`.
    await consume(store, statusEvent('evt_3!', '2026-11-22T05:03:00Z'));
    await consume(store, statusEvent('evt_3~', '2026-11-22T05:03:00Z'));
    const range = { since: '2026-11-22T05:01:00.000000000Z', until: '2026-11-22T05:03:00.000000000Z' };
    expect((await store.listEvents('conn_1', Number.POSITIVE_INFINITY, range)).map((e) => e.webhookId)).toEqual(['evt_3~', 'evt_3!', 'evt_3', 'evt_2', 'evt_1']);
    // Read by key: a limit below the newer events still reaches the range.
    expect((await store.listEvents('conn_1', 2, range)).map((e) => e.webhookId)).toEqual(['evt_3~', 'evt_3!']);
    expect((await store.listEvents('conn_1', Number.POSITIVE_INFINITY, { since: '2026-11-22T05:06:00.000000001Z' })).map((e) => e.webhookId)).toEqual(['evt_7']);
    // A range that ends before it starts (the console takes both ends as typed) holds nothing.
    expect(await store.listEvents('conn_1', Number.POSITIVE_INFINITY, { since: range.until, until: range.since })).toEqual([]);
    expect((await store.listEvents('conn_1', Number.POSITIVE_INFINITY, { since: range.until, until: range.until })).map((e) => e.webhookId)).toEqual(['evt_3~', 'evt_3!', 'evt_3']);
  });

  it('stops reading a connection’s events at the limit, though more are stored', async () => {
    const store = storeWith();
    for (let i = 0; i < 3; i++) await consume(store, statusEvent(`evt_${i}`, `2026-11-22T05:0${i}:00Z`));
    expect((await store.listEvents('conn_1', 2)).map((e) => e.webhookId)).toEqual(['evt_2', 'evt_1']);
  });
});

describe('consume.ts against the store', () => {
  const contentCopy = (receivedAt: string) => ({
    deliveryId: `msg-${++deliveryCounter}`,
    body: encodeEnvelope({ webhookId: 'sha256:ck', dedup: 'content', receivedAt, scheme: 'makini', requestId: 'r' }, Buffer.from('{"event":"assets.updated","body":["a"]}')),
  });

  it('completes an unprocessable webhook as not stale', async () => {
    const store = storeWith();
    const message = { deliveryId: 'msg-bad', body: encodeEnvelope({ webhookId: 'evt_bad', receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, Buffer.from('[]')) };
    expect(await processMessage(message, store, DEFAULT_CONFIG)).toMatchObject({ kind: 'unprocessable' });
    expect(await store.getWebhook('evt_bad')).toMatchObject({ status: 'DONE', stale: false });
  });

  it('names a message by its webhook id, or for a copy deduplicated by content by its event’s id', async () => {
    const store = storeWith();
    await store.resolveContentId('sha256:ck', '2026-11-22T06:00:00.000Z');
    expect(await messageEventId(delivery(statusEvent('evt_1', '2026-11-22T05:00:00Z')), store)).toBe('evt_1');
    expect(await messageEventId(contentCopy('2026-11-22T06:05:00.000Z'), store)).toBe('sha256:ck@2026-11-22T06:00:00.000Z');
    expect(sent.filter((c) => c instanceof GetCommand)).toHaveLength(2); // the id-keyed message needed no read
  });

  it('falls back to the content key without a store that can find it, or when the lookup fails', async () => {
    expect(await messageEventId(contentCopy('2026-11-22T06:05:00.000Z'), {})).toBe('sha256:ck');
    hook = async () => {
      throw new Error('throttled');
    };
    expect(await messageEventId(contentCopy('2026-11-22T06:05:00.000Z'), storeWith())).toBe('sha256:ck');
  });
});
