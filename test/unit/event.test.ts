import { normaliseEvent } from '../../lambdas/core/event';

const meta = { webhookId: 'evt_1', receivedAt: '2026-11-22T05:00:00.000Z', source: 'webhook' } as const;
const norm = (body: unknown) => normaliseEvent(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), meta);

describe('normaliseEvent', () => {
  it('reads the default Makini fields', () => {
    const result = norm({ id: 'evt_1', type: 'sync.completed', timestamp: '2026-11-22T04:59:00Z', connection_id: 'conn_1', data: { records_synced: 3 } });
    expect(result).toEqual({
      ok: true,
      event: { webhookId: 'evt_1', type: 'sync.completed', occurredAt: '2026-11-22T04:59:00.000Z', connectionId: 'conn_1', data: { records_synced: 3 }, source: 'webhook', receivedAt: meta.receivedAt },
    });
  });

  it.each([
    [{ eventType: 'sync.failed', connectionId: 'c', occurredAt: '2026-01-01T00:00:00Z' }],
    [{ type: 'sync.failed', connection_id: 'c', createdAt: '2026-01-01T00:00:00Z' }],
  ])('accepts the camelCase aliases %j', (body) => {
    const result = norm(body);
    expect(result.ok && result.event).toMatchObject({ type: 'sync.failed', connectionId: 'c', occurredAt: '2026-01-01T00:00:00.000Z' });
  });

  it('normalises time zones to UTC so times sort as strings', () => {
    const result = norm({ type: 'x', connection_id: 'c', timestamp: '2026-01-01T02:00:00+02:00' });
    expect(result.ok && result.event.occurredAt).toBe('2026-01-01T00:00:00.000Z');
  });

  it('keeps unknown types and unknown fields', () => {
    const result = norm({ type: 'billing.updated', connection_id: 'c', timestamp: '2026-01-01T00:00:00Z', plan: 'pro', data: { seats: 3 } });
    expect(result.ok && result.event).toMatchObject({ type: 'billing.updated', data: { plan: 'pro', seats: 3 } });
  });

  it.each([
    ['not json', /not JSON/],
    ['[1,2]', /not a JSON object/],
    [JSON.stringify({ connection_id: 'c', timestamp: '2026-01-01T00:00:00Z' }), /no event type/],
    [JSON.stringify({ type: 'sync.completed', timestamp: '2026-01-01T00:00:00Z' }), /no connection id/],
    [JSON.stringify({ type: 'sync.completed', connection_id: 'c' }), /no timestamp/],
    [JSON.stringify({ type: 'sync.completed', connection_id: 'c', timestamp: 'yesterday' }), /not ISO-8601/],
    [JSON.stringify({ type: 'sync.completed', connection_id: 'c', timestamp: '2026-13-45T99:00:00Z' }), /not ISO-8601/],
    [JSON.stringify({ type: 'connection.status_changed', connection_id: 'c', timestamp: '2026-01-01T00:00:00Z', data: { status: 'sleepy' } }), /online or offline/],
  ])('reports %s as unprocessable, with the reason', (body, reason) => {
    const result = norm(body);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });
});
