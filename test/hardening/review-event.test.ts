/**
 * Review of issue 12: events and dedup keys read from signed bodies with odd values.
 */
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { finishProcessed, parseMessage, processMessage } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { normaliseEvent } from '../../lambdas/core/event';
import { parseJsonBody } from '../../lambdas/core/json-body';
import { resolveDedupKey } from '../../lambdas/core/webhook-id';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { startDynalite } from '../support/dynalite';

const meta = { webhookId: 'sha256:k@2026-11-22T05:00:00.000Z', receivedAt: '2026-11-22T05:00:00.000Z', source: 'webhook' as const };

describe('adversarial review: numbers beyond 2^53 in signed bodies', () => {
  it('does not forward a record id the notification does not contain (12345678901234567891 becomes 12345678901234567000)', () => {
    const raw = Buffer.from('{"event":"assets.updated","body":[12345678901234567891]}');
    const result = normaliseEvent(raw, meta, DEFAULT_CONFIG);
    expect(result.ok).toBe(true);
    // Either the digits that were signed, or no `ids` at all; never another record's id.
    expect(result.ok && (result.event.ids ?? ['12345678901234567891'])).toEqual(['12345678901234567891']);
  });

  it('gives two webhooks with different numeric ids different dedup keys', () => {
    const key = (text: string) => resolveDedupKey({ scheme: 'makini', headers: {}, body: Buffer.from(text), parsed: parseJsonBody(Buffer.from(text)), idFields: ['id'] });
    const a = key('{"id":12345678901234567891,"type":"sync.completed","connection_id":"c1"}');
    const b = key('{"id":12345678901234567892,"type":"sync.completed","connection_id":"c1"}');
    expect(a.webhookId).not.toBe(b.webhookId);
  });

  it('processes the second of two webhooks whose numeric ids differ beyond 2^53 (it is kept aside as a "mismatch" and never processed)', async () => {
    const dynamo = await startDynalite();
    try {
      const store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000 });
      const outcomes = [];
      for (const [i, text] of ['{"id":12345678901234567891,"type":"sync.completed","timestamp":"2026-11-22T04:00:00Z","connection_id":"c1"}', '{"id":12345678901234567892,"type":"sync.failed","timestamp":"2026-11-22T04:30:00Z","connection_id":"c1"}'].entries()) {
        const bytes = Buffer.from(text);
        const { webhookId } = resolveDedupKey({ scheme: 'makini', headers: {}, body: bytes, parsed: parseJsonBody(bytes), idFields: ['id'] });
        const outcome = await processMessage({ deliveryId: `m${i}`, body: encodeEnvelope({ webhookId, receivedAt: '2026-11-22T05:00:00.000Z', scheme: 'makini', requestId: `r${i}` }, bytes) }, store, DEFAULT_CONFIG);
        if (outcome.kind === 'processed') await finishProcessed(outcome, store);
        outcomes.push(outcome.kind);
      }
      expect(outcomes).toEqual(['processed', 'processed']);
    } finally {
      await dynamo.close();
    }
  });
});

describe('adversarial review: parseMessage "never throws"', () => {
  it('does not throw on an envelope whose receivedAt is not a time (it throws RangeError from eventTimeFromMs)', () => {
    const body = encodeEnvelope({ webhookId: 'w1', receivedAt: 'not-a-time', scheme: 'makini', requestId: 'r' }, Buffer.from('{"event":"assets.updated","body":["a"]}'));
    expect(() => parseMessage({ deliveryId: 'd1', body }, DEFAULT_CONFIG)).not.toThrow();
  });
});
