import { coalesceConnectionUpdates } from '../../lambdas/core/coalesce';
import type { Applied, ConnectionState } from '../../lambdas/core/connection-state';

/** A stored state per connection, a write log, and writes that wait until released. */
function fakeStore() {
  const states = new Map<string, ConnectionState>();
  const writes: { connectionId: string; state: ConnectionState }[] = [];
  const gates: (() => void)[] = [];
  let inFlight = 0;
  let peak = 0;
  let failNext = false;
  let conflictsLeft = 0;
  const write = async (connectionId: string, update: (state: ConnectionState) => Applied): Promise<Applied> => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    try {
      await new Promise<void>((resolve) => gates.push(resolve));
      for (;;) {
        const applied = update(states.get(connectionId) ?? { connectionId, status: 'unknown' });
        if (failNext) {
          failNext = false;
          throw new Error('write failed');
        }
        if (conflictsLeft > 0) {
          conflictsLeft--;
          states.set(connectionId, { ...(states.get(connectionId) ?? { connectionId, status: 'unknown' }), lastSyncAt: 'written by someone else' });
          continue; // the version check lost: read again, apply again
        }
        if (applied.changed) {
          states.set(connectionId, applied.state);
          writes.push({ connectionId, state: applied.state });
        }
        return applied;
      }
    } finally {
      inFlight--;
    }
  };
  return {
    write,
    states,
    writes,
    releaseAll: async () => {
      while (gates.length > 0 || (await settle(), gates.length > 0)) gates.shift()!();
    },
    release: () => gates.shift()!(),
    pending: () => gates.length,
    peak: () => peak,
    failNextWrite: () => (failNext = true),
    conflict: (n: number) => (conflictsLeft = n),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** An update that appends a mark to `lastEventId`, so the order of application is visible. */
const mark = (m: string) => (state: ConnectionState): Applied => {
  const next = { ...state, lastEventId: `${state.lastEventId ?? ''}${m}` };
  return { state: next, changed: true, stale: false };
};
const noop = (state: ConnectionState): Applied => ({ state, changed: false, stale: true });

describe('coalesceConnectionUpdates', () => {
  it('applies updates requested together in one write, each caller getting its own result', async () => {
    const store = fakeStore();
    const update = coalesceConnectionUpdates(store.write);
    const results = Promise.all(['a', 'b', 'c'].map((m) => update('conn_1', mark(m))));
    await store.releaseAll();
    const applied = await results;
    expect(applied.map((a) => a.state.lastEventId)).toEqual(['a', 'ab', 'abc']);
    expect(store.writes).toEqual([{ connectionId: 'conn_1', state: expect.objectContaining({ lastEventId: 'abc' }) }]);
  });

  it('queues updates that arrive during a write into the next write, never racing it', async () => {
    const store = fakeStore();
    const update = coalesceConnectionUpdates(store.write);
    const first = update('conn_1', mark('a'));
    await settle();
    expect(store.pending()).toBe(1);
    const later = Promise.all([update('conn_1', mark('b')), update('conn_1', mark('c'))]);
    await settle();
    expect(store.pending()).toBe(1); // still only the first write in flight
    await store.releaseAll();
    expect((await first).state.lastEventId).toBe('a');
    expect((await later).map((a) => a.state.lastEventId)).toEqual(['ab', 'abc']);
    expect(store.writes.map((w) => w.state.lastEventId)).toEqual(['a', 'abc']);
    expect(store.peak()).toBe(1);
  });

  it('writes different connections in parallel', async () => {
    const store = fakeStore();
    const update = coalesceConnectionUpdates(store.write);
    const all = Promise.all([update('conn_1', mark('a')), update('conn_2', mark('b'))]);
    await settle();
    expect(store.pending()).toBe(2);
    await store.releaseAll();
    await all;
    expect(store.peak()).toBe(2);
  });

  it('re-applies the whole group to the fresh state when the conditional write loses', async () => {
    const store = fakeStore();
    store.conflict(2);
    const update = coalesceConnectionUpdates(store.write);
    const results = Promise.all([update('conn_1', mark('a')), update('conn_1', mark('b'))]);
    await store.releaseAll();
    const applied = await results;
    expect(applied.map((a) => a.state.lastSyncAt)).toEqual(['written by someone else', 'written by someone else']);
    expect(applied.map((a) => a.state.lastEventId)).toEqual(['a', 'ab']);
  });

  it('writes nothing when no update of the group changes the state', async () => {
    const store = fakeStore();
    const update = coalesceConnectionUpdates(store.write);
    const results = Promise.all([update('conn_1', noop), update('conn_1', noop)]);
    await store.releaseAll();
    expect((await results).map((a) => a.stale)).toEqual([true, true]);
    expect(store.writes).toEqual([]);
  });

  it('fails every update of a failed write, and the next updates of that connection still go through', async () => {
    const store = fakeStore();
    store.failNextWrite();
    const update = coalesceConnectionUpdates(store.write);
    const failed = Promise.allSettled([update('conn_1', mark('a')), update('conn_1', mark('b'))]);
    await store.releaseAll();
    expect((await failed).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const next = update('conn_1', mark('c'));
    await store.releaseAll();
    expect((await next).state.lastEventId).toBe('c');
  });
});
