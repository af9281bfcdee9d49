import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { isEntityEventType, isIdList, normaliseEvent, type EventMeta } from '../../lambdas/core/event';

const meta: EventMeta = { webhookId: 'evt_1', receivedAt: '2026-11-22T05:00:00.000Z', source: 'webhook' };
const norm = (body: unknown, m: Partial<EventMeta> = {}, fields = DEFAULT_CONFIG) =>
  normaliseEvent(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), { ...meta, ...m }, fields);
const event = (body: unknown, m: Partial<EventMeta> = {}, fields = DEFAULT_CONFIG) => {
  const result = norm(body, m, fields);
  if (!result.ok) throw new Error(result.reason);
  return result.event;
};

describe('normaliseEvent', () => {
  it("reads Makini's documented notification as an entity notification", () => {
    const ids = ['16c69269-0432-4382-b48f-eb3538b4b3d7', '418e84a7-9ae4-4ab7-ad0f-43c4edba9098'];
    expect(event({ event: 'assets.updated', body: ids })).toEqual({
      webhookId: 'evt_1',
      type: 'assets.updated',
      entity: 'assets',
      action: 'updated',
      ids,
      occurredAt: '2026-11-22T05:00:00.000000000Z',
      timeSource: 'received',
      data: {},
      source: 'webhook',
      receivedAt: meta.receivedAt,
    });
  });

  it('takes the connection from the URL path over the body, and has none when neither names one', () => {
    expect(event({ event: 'sites.inserted', body: ['s1'] }, { connectionId: 'conn_path' }).connectionId).toBe('conn_path');
    expect(event({ type: 'x', connection_id: 'conn_body' }, { connectionId: 'conn_path' }).connectionId).toBe('conn_path');
    expect(event({ type: 'x', connection_id: 'conn_body' }).connectionId).toBe('conn_body');
    expect(event({ event: 'assets.updated', body: ['a'] })).not.toHaveProperty('connectionId');
  });

  it('reads the lifecycle fields, and their camelCase aliases', () => {
    expect(event({ id: 'evt_1', type: 'sync.completed', timestamp: '2026-11-22T04:59:00Z', connection_id: 'conn_1', data: { records_synced: 3 } })).toEqual({
      webhookId: 'evt_1',
      type: 'sync.completed',
      occurredAt: '2026-11-22T04:59:00.000000000Z',
      timeSource: 'body',
      connectionId: 'conn_1',
      data: { records_synced: 3 },
      source: 'webhook',
      receivedAt: meta.receivedAt,
    });
    expect(event({ eventType: 'sync.failed', connectionId: 'c', occurredAt: '2026-01-01T00:00:00Z' })).toMatchObject({ type: 'sync.failed', connectionId: 'c', occurredAt: '2026-01-01T00:00:00.000000000Z' });
    expect(event({ event_type: 'sync.failed', connection_id: 'c', created_at: '2026-01-01T00:00:00Z' })).toMatchObject({ type: 'sync.failed', timeSource: 'body' });
  });

  it('takes the type from the first field of the configured list that holds a string', () => {
    expect(event({ event: 'assets.updated', type: 'other', body: [] }).type).toBe('assets.updated');
    expect(event({ event: 7, type: 'sync.completed' }).type).toBe('sync.completed');
    expect(event({ kind: 'custom.thing', event: 'x' }, {}, { ...DEFAULT_CONFIG, eventTypeFields: ['kind'] }).type).toBe('custom.thing');
    expect(event({ something: 'else' }).type).toBe('unknown');
  });

  it.each([
    ['ISO 8601 with an offset', '2026-01-01T02:00:00+02:00', '2026-01-01T00:00:00.000000000Z'],
    ['ISO 8601 with nanoseconds', '2026-01-01T00:00:00.123456789Z', '2026-01-01T00:00:00.123456789Z'],
    ['epoch seconds', 1767225600, '2026-01-01T00:00:00.000000000Z'],
    ['epoch seconds with a fraction', 1767225600.25, '2026-01-01T00:00:00.250000000Z'],
    ['epoch milliseconds', 1767225600123, '2026-01-01T00:00:00.123000000Z'],
    ['epoch milliseconds as text', '1767225600123', '2026-01-01T00:00:00.123000000Z'],
    ['epoch microseconds', 1767225600123456, '2026-01-01T00:00:00.123456000Z'],
  ])('accepts %s', (_what, timestamp, occurredAt) => {
    expect(event({ type: 'x', timestamp })).toMatchObject({ occurredAt, timeSource: 'body' });
  });

  it('keeps sub-millisecond precision in a form that sorts as text', () => {
    const times = ['2026-01-01T00:00:00.0001Z', '2026-01-01T00:00:00.001Z', '2026-01-01T00:00:00.00099Z', '2026-01-01T00:00:01Z', '2026-01-01T00:00:00.999999999Z'];
    const sorted = times.map((timestamp) => event({ type: 'x', timestamp }).occurredAt).sort();
    expect(sorted).toEqual([
      '2026-01-01T00:00:00.000100000Z',
      '2026-01-01T00:00:00.000990000Z',
      '2026-01-01T00:00:00.001000000Z',
      '2026-01-01T00:00:00.999999999Z',
      '2026-01-01T00:00:01.000000000Z',
    ]);
  });

  it('uses the receive time, and says so, when the body has no usable time', () => {
    for (const timestamp of [undefined, 'yesterday', '2026-13-45T99:00:00Z', -1]) {
      const e = event({ type: 'x', timestamp });
      expect(e).toMatchObject({ occurredAt: '2026-11-22T05:00:00.000000000Z', timeSource: 'received' });
      if (timestamp !== undefined) expect(e.data).toEqual({ timestamp }); // nothing the sender wrote is lost
    }
  });

  it('keeps unknown types and unknown fields', () => {
    expect(event({ type: 'billing.updated', connection_id: 'c', timestamp: '2026-01-01T00:00:00Z', plan: 'pro', data: { seats: 3 } })).toMatchObject({ type: 'billing.updated', data: { plan: 'pro', seats: 3 } });
  });

  it('keeps a body that is not a list of ids as data', () => {
    const e = event({ event: 'assets.updated', body: { id: 'a' } });
    expect(e).not.toHaveProperty('ids');
    expect(e.data).toEqual({ body: { id: 'a' } });
    expect(event({ event: 'notanentity', body: ['a'] })).not.toHaveProperty('entity');
    expect(event({ event: 'work-orders.inserted', body: [1, 'b'] })).toMatchObject({ entity: 'work-orders', action: 'inserted', ids: ['1', 'b'] });
  });

  it('keeps a `data` that is not an object, and a body id other than the webhook id, in data', () => {
    expect(event({ type: 'x', data: 'text' }).data).toEqual({ data: 'text' });
    expect(event({ id: 'evt_other', type: 'x' }).data).toEqual({ id: 'evt_other' }); // the webhook id came from elsewhere (a header, the content)
    expect(event({ id: 'evt_1', type: 'x' }).data).toEqual({}); // read into webhookId
  });

  it('reads no ids from a list with one number past 2^53 (JSON.parse has already changed its digits)', () => {
    const e = event(`{"event":"assets.updated","body":["a",9007199254740993]}`);
    expect(e).not.toHaveProperty('ids');
    expect(e).not.toHaveProperty('entity');
  });

  it('reads an entity and an action of up to 64 characters each, and no notification from a longer one (the bus carries the type three times)', () => {
    const long = (entity: number, action: number) => event({ event: `E${'e'.repeat(entity - 1)}.A${'a'.repeat(action - 1)}`, body: ['r1'] });
    expect(long(64, 64)).toMatchObject({ entity: `E${'e'.repeat(63)}`, action: `A${'a'.repeat(63)}`, ids: ['r1'] });
    expect(long(1, 1)).toMatchObject({ entity: 'E', action: 'A' });
    for (const e of [long(65, 64), long(64, 65)]) {
      expect(e).not.toHaveProperty('entity');
      expect(e.data).toEqual({ body: ['r1'] });
    }
  });

  it('names as entity notification types what normaliseEvent reads as one (the CLI checks --type with it)', () => {
    for (const type of ['assets.updated', 'purchase-orders.inserted', `${'e'.repeat(64)}.${'a'.repeat(64)}`]) expect(isEntityEventType(type)).toBe(true);
    for (const type of ['sync.completed.v2', 'assets', '1assets.updated', `${'e'.repeat(65)}.updated`, `assets.${'a'.repeat(65)}`]) expect(isEntityEventType(type)).toBe(false);
  });

  it('takes a list of strings and exact integers as ids, and nothing else', () => {
    expect(isIdList(['16c69269', 42, -7, 0])).toBe(true);
    expect(isIdList([])).toBe(true);
    for (const body of [[1.5], ['a', 2 ** 53], [null], [['a']], 'a', { 0: 'a' }, undefined]) expect(isIdList(body)).toBe(false);
  });

  it('reads a connection id without its surrounding whitespace, a numeric one as text, and none longer than 256 characters', () => {
    expect(event({ type: 'x', connection_id: '  conn_1 ' }).connectionId).toBe('conn_1');
    expect(event({ type: 'x', connection_id: 42 }).connectionId).toBe('42');
    expect(event({ type: 'x', connection_id: 'c'.repeat(256) }).connectionId).toBe('c'.repeat(256));
    expect(event({ type: 'x', connection_id: 'c'.repeat(257) })).not.toHaveProperty('connectionId');
    expect(event({ type: 'x', connection_id: '   ' })).not.toHaveProperty('connectionId');
    expect(event({ type: ' sync.completed ' }).type).toBe('sync.completed');
  });

  it.each([
    ['not json', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['"text"', /not a JSON object/],
  ])('reports %s as unprocessable, with the reason', (body, reason) => {
    const result = norm(body);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });

  it('reads a body that starts with a byte-order mark', () => {
    const result = normaliseEvent(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"event":"sites.updated","body":["s"]}')]), meta, DEFAULT_CONFIG);
    expect(result.ok && result.event.ids).toEqual(['s']);
  });
});
