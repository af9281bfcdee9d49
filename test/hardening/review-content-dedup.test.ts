/**
 * Review of issue 12: content deduplication "within contentDedupWindowMinutes of the first copy"
 * (docs/makini-wire-format.md, lambdas/core/content-dedup.ts), on dynalite.
 */
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { finishProcessed, processMessage, type RecordOutcome } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

let dynamo: LocalDynamo;
let store: DynamoDbEventStore;
beforeEach(async () => {
  dynamo = await startDynalite();
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => Date.parse('2026-11-22T07:00:00Z') });
});
afterEach(async () => dynamo.close());

const contentKey = 'sha256:review-content-key';
const notification = Buffer.from(JSON.stringify({ event: 'assets.updated', body: ['16c69269-0432-4382-b48f-eb3538b4b3d7'] }));
let n = 0;
/** A copy of the notification as the receiver enqueues it, received at `receivedAt`. */
const copy = (receivedAt: string) => ({
  deliveryId: `msg-${++n}`,
  body: encodeEnvelope({ webhookId: contentKey, dedup: 'content', connectionId: 'conn_1', receivedAt, scheme: 'makini', requestId: `r${n}` }, notification),
});
async function consume(message: ReturnType<typeof copy>): Promise<RecordOutcome> {
  const outcome = await processMessage(message, store, DEFAULT_CONFIG);
  if (outcome.kind === 'processed') await finishProcessed(outcome, store);
  return outcome;
}

describe('adversarial review: content dedup window is measured from the first copy', () => {
  it('does not swallow a genuine update received 19 min after the first copy when an earlier retry was processed first (window extended by out-of-order processing)', async () => {
    const first = copy('2026-11-22T06:00:00.000Z'); // first copy of event A, delayed in the queue
    const retry = copy('2026-11-22T06:05:00.000Z'); // Makini's retry of A, processed first
    const update = copy('2026-11-22T06:19:00.000Z'); // a genuine second update: 19 min after A's first copy
    expect(await consume(retry)).toMatchObject({ kind: 'processed' });
    expect(await consume(first)).toMatchObject({ kind: 'duplicate' });
    // 19 minutes after the first copy of A, beyond the 15-minute window: a new event by the
    // documented rule. The store measured from the retry (06:05) instead and collapses it.
    expect(await consume(update)).toMatchObject({ kind: 'processed' });
  });

  it('processes two copies of one "earlier" event (received 1 min apart) once, not twice', async () => {
    // The latest generation started at 06:05; two copies of an older event (05:30, and its retry
    // at 05:31) are processed afterwards, e.g. after a DLQ redrive or a consumer backlog.
    expect(await consume(copy('2026-11-22T06:05:00.000Z'))).toMatchObject({ kind: 'processed' });
    const a = await consume(copy('2026-11-22T05:30:00.000Z'));
    const b = await consume(copy('2026-11-22T05:31:00.000Z'));
    expect(a).toMatchObject({ kind: 'processed' });
    // A copy 1 minute after the first copy of its event is a retry (docs): it must be a duplicate.
    expect(b).toMatchObject({ kind: 'duplicate', webhookId: a.webhookId });
  });
});
