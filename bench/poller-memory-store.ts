import type { PollRecord } from '../lambdas/core/poll';
import type { PollerDeps } from '../lambdas/poller/poller';

/** Poll records in a Map: the poller's reads and writes, done, without a database's cost. */
export function memoryStore(seed: Iterable<PollRecord> = []) {
  const records = new Map<string, PollRecord>([...seed].map((r) => [r.connectionId, r]));
  const store: PollerDeps['store'] = {
    loadCandidates: async (ids) => ids.map((connectionId) => ({ connectionId, ...(records.has(connectionId) && { poll: records.get(connectionId) }) })),
    savePollRecord: async (record) => void records.set(record.connectionId, record),
    listPolledConnectionIds: async () => [...records.keys()],
    acquirePollLease: async () => true,
    releasePollLease: async () => undefined,
  };
  return { records, store };
}

