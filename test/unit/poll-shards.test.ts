import { InvalidPollShardError } from '../../lambdas/core/errors';
import { isPollWorkerEvent, parsePollShard, splitShards, type ShardConnection } from '../../lambdas/core/poll';

const connections = (n: number, status = 'active'): ShardConnection[] => Array.from({ length: n }, (_, i) => ({ id: `conn_${String(i).padStart(3, '0')}`, listed: true, status }));

describe('splitShards', () => {
  it('cuts the connections, in order, into shards of at most the size; the last takes the rest', () => {
    const shards = splitShards(connections(7), 3, 1_000_000);
    expect(shards.map((s) => s.map((c) => c.id))).toEqual([
      ['conn_000', 'conn_001', 'conn_002'],
      ['conn_003', 'conn_004', 'conn_005'],
      ['conn_006'],
    ]);
  });

  it('starts a new shard before one would exceed the byte limit, and never leaves one empty', () => {
    const entry = Buffer.byteLength(JSON.stringify(connections(1)[0])) + 1;
    expect(splitShards(connections(5), 100, entry * 2).map((s) => s.length)).toEqual([2, 2, 1]);
    // An entry larger than the limit still travels, alone.
    expect(splitShards(connections(2, 'x'.repeat(50)), 100, 10).map((s) => s.length)).toEqual([1, 1]);
    expect(splitShards([], 3, 1_000)).toEqual([]);
  });
});

describe('parsePollShard', () => {
  const valid = { runId: 'poll-1', notAfter: 1_700_000_000_000, connections: [{ id: 'conn_a', listed: true, status: 'active' }, { id: 'conn_b', listed: false }] };

  it('reads what the coordinator sends', () => {
    expect(parsePollShard(JSON.stringify(valid))).toEqual(valid);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', 'null'],
    ['without a run id', JSON.stringify({ ...valid, runId: '' })],
    ['without a time limit', JSON.stringify({ ...valid, notAfter: 'soon' })],
    ['without a connection list', JSON.stringify({ ...valid, connections: {} })],
    ['with a connection without listed', JSON.stringify({ ...valid, connections: [{ id: 'conn_a' }] })],
    ['with a connection without an id', JSON.stringify({ ...valid, connections: [{ listed: true }] })],
    ['with a status that is not a string', JSON.stringify({ ...valid, connections: [{ id: 'conn_a', listed: true, status: 3 }] })],
  ])('refuses a message %s', (_what, body) => {
    expect(() => parsePollShard(body)).toThrow(InvalidPollShardError);
  });
});

describe('isPollWorkerEvent', () => {
  it('recognises a worker event: a run id and a finite notAfter', () => {
    expect(isPollWorkerEvent({ pollWorker: { runId: 'poll-1', notAfter: 1_764_000_000_000 } })).toBe(true);
  });

  it.each([
    ['the schedule\'s event', { source: 'aws.events', 'detail-type': 'Scheduled Event' }],
    ['an empty event', {}],
    ['null', null],
    ['a string', 'pollWorker'],
    ['a worker without notAfter', { pollWorker: { runId: 'poll-1' } }],
    ['an infinite notAfter', { pollWorker: { runId: 'poll-1', notAfter: Number.POSITIVE_INFINITY } }],
    ['a numeric run id', { pollWorker: { runId: 1, notAfter: 1 } }],
    ['a null pollWorker', { pollWorker: null }],
    ['a string pollWorker', { pollWorker: 'poll-1' }],
  ])('takes %s for a run, not a worker', (_label, event) => {
    expect(isPollWorkerEvent(event)).toBe(false);
  });
});
