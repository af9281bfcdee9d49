/**
 * Review of issue 12: `connections.*` notifications mark connections for a poll
 * (DynamoDbEventStore.requestPolls, PollRecord.pollRequestedAt, selectConnections), on dynalite.
 */
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { finishProcessed, processMessage } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { selectConnections } from '../../lambdas/core/poll';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

let dynamo: LocalDynamo;
let store: DynamoDbEventStore;
const NOW = Date.parse('2026-11-22T10:06:00Z');
beforeEach(async () => {
  dynamo = await startDynalite();
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => NOW });
});
afterEach(async () => dynamo.close());

/** A `connections.updated` notification naming conn_a, received at `receivedAt` (bodies differ so both are events). */
const notification = (receivedAt: string, other: string) => ({
  deliveryId: `msg-${receivedAt}`,
  body: encodeEnvelope(
    { webhookId: `sha256:${receivedAt}`, dedup: 'content', receivedAt, scheme: 'makini', requestId: 'r' },
    Buffer.from(JSON.stringify({ event: 'connections.updated', body: ['conn_a', other] })),
  ),
});

describe('adversarial review: poll requests', () => {
  it('keeps the newest poll request when an older connections.* notification is processed after a newer one', async () => {
    // The poller polled conn_a at 10:03 (connection healthy, recent webhooks: not otherwise due).
    await store.savePollRecord({ connectionId: 'conn_a', lastPolledAt: '2026-11-22T10:03:00.000Z', lastOutcome: 'ok', consecutiveFailures: 0, pending: {} });
    const newer = notification('2026-11-22T10:05:00.000Z', 'conn_x');
    const older = notification('2026-11-22T10:00:00.000Z', 'conn_y'); // delayed in the queue
    for (const m of [newer, older]) {
      const outcome = await processMessage(m, store, DEFAULT_CONFIG);
      if (outcome.kind === 'processed') await finishProcessed(outcome, store);
    }
    const [candidate] = await store.loadCandidates(['conn_a']);
    // The 10:05 notification came after the 10:03 poll: conn_a must still be requested.
    expect(candidate.poll?.pollRequestedAt).toBe('2026-11-22T10:05:00.000Z');
    const due = selectConnections(
      [{ ...candidate, state: { connectionId: 'conn_a', status: 'online', lastSyncStatus: 'completed', lastWebhookAt: '2026-11-22T10:05:59.000Z' } }],
      NOW,
      { pollAll: false, expectedWindowMs: 30 * 60_000, breakerFailureThreshold: 5, breakerCooldownMs: 30 * 60_000 },
    );
    expect(due.map((d) => d.connectionId)).toEqual(['conn_a']);
  });
});
