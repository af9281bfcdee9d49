import type { Applied, ConnectionState } from './connection-state';

export type UpdateConnection = (connectionId: string, update: (state: ConnectionState) => Applied) => Promise<Applied>;

/**
 * Group commit for connection state: updates of one connection never race each other, and those
 * that arrive while one is being written are applied together in the next read-modify-write.
 *
 * Why: a batch applies its records' events in parallel, and several often belong to one
 * connection. Unwrapped, each does its own read and conditional write, and all but one lose the
 * version check and retry (`npm run bench` measured 3.05 DynamoDB writes per new webhook that way).
 * Wrapped, a connection costs one read and one write per group, and no write of ours loses to
 * another of ours.
 *
 * Each caller gets the result of its own update, applied to the state its predecessors in the
 * group left: exactly what processing them one by one, in arrival order, would have returned. A
 * failed write fails every update of its group (their records are retried by SQS).
 *
 * @example
 * const update = coalesceConnectionUpdates((id, fn) => store.updateConnection(id, fn));
 * await Promise.all(events.map((e) => update(e.connectionId, (s) => applyEvent(s, e))));
 */
export function coalesceConnectionUpdates(write: UpdateConnection): UpdateConnection {
  const lanes = new Map<string, Pending[]>();

  async function run(connectionId: string, waiting: Pending[]): Promise<void> {
    while (waiting.length > 0) {
      const group = waiting.splice(0);
      // Stryker disable next-line ArrayDeclaration: equivalent because the update function below sets results before they are read: a write resolves only after calling it (DynamoDbEventStore.updateConnection always does), and a write that fails rejects the group without reading them
      let results: Applied[] = [];
      try {
        await write(connectionId, (state) => {
          // Called again from a fresh read when the conditional write loses: start over each time.
          results = [];
          let current = state;
          let changed = false;
          for (const { update } of group) {
            const applied = update(current);
            results.push(applied);
            if (applied.changed) {
              current = applied.state;
              changed = true;
            }
          }
          // Stryker disable next-line BooleanLiteral: equivalent because nothing reads the combined result's `stale`: each caller gets its own update's result, and the store writes only `state` when `changed`
          return { state: current, changed, stale: false };
        });
        group.forEach((pending, i) => pending.resolve(results[i]));
      } catch (error) {
        for (const pending of group) pending.reject(error);
      }
    }
    lanes.delete(connectionId);
  }

  return (connectionId, update) =>
    new Promise<Applied>((resolve, reject) => {
      const waiting = lanes.get(connectionId);
      if (waiting) {
        waiting.push({ update, resolve, reject });
        return;
      }
      const lane: Pending[] = [{ update, resolve, reject }];
      lanes.set(connectionId, lane);
      // After the current microtasks, so updates requested in the same turn share the first write.
      void Promise.resolve().then(() => run(connectionId, lane));
    });
}

interface Pending {
  readonly update: (state: ConnectionState) => Applied;
  resolve(applied: Applied): void;
  reject(error: unknown): void;
}
