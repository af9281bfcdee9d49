/**
 * The state each connection of a simulated lifecycle stream must end in, from the independent model
 * (connection-model.ts), and the connections whose stored state differs from it. Shared by the
 * hot-connection test and `npm run bench -- hot`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { resolveConfig } from '../../lambdas/config/config';
import { normaliseEvent } from '../../lambdas/core/event';
import type { StreamEntry } from '../../local/simulator';
import { modelState, type ModelEvent } from './connection-model';

/**
 * `npm start`'s environment for a run whose states must be those of the webhooks alone: a Makini API
 * URL of its own (nothing listens on port 9 of loopback) instead of the bundled simulator, whose
 * connections are the simulated stream's and whose polls would add events of their own. Without
 * client credentials the poller is then in per-connection mode, with no connection secrets: it polls nothing.
 */
export const NO_POLLS = { MAKINI_API_URL: 'http://127.0.0.1:9' } as const;

/** The fields a stream decides whatever the arrival order (`lastWebhookAt` is a receive time, `lastTransition` depends on the order). */
const ORDER_FREE_FIELDS = ['status', 'statusAt', 'statusEventId', 'lastSyncAt', 'lastSyncStatus', 'syncEventId', 'lastEventAt', 'lastEventId'] as const;

/** Per connection, the order-free fields of the model's state after every event of `stream` (duplicates included, as delivered). */
export function expectedStates(stream: readonly StreamEntry[]): Map<string, Record<string, unknown>> {
  const config = resolveConfig();
  const byConnection = new Map<string, ModelEvent[]>();
  for (const { id, body } of stream) {
    const normalised = normaliseEvent(Buffer.from(body), { webhookId: id, receivedAt: new Date(0).toISOString(), source: 'webhook' }, config);
    if (!normalised.ok || normalised.event.connectionId === undefined) throw new Error(`the stream entry ${id} names no connection`);
    const { webhookId, type, occurredAt, data, source, receivedAt, connectionId } = normalised.event;
    byConnection.set(connectionId, [...(byConnection.get(connectionId) ?? []), { webhookId, type, occurredAt, data, source, receivedAt }]);
  }
  return new Map([...byConnection].map(([connectionId, events]) => [connectionId, pick(modelState(connectionId, events))]));
}

/**
 * Reads each connection's state from the stack's table (DynamoDB endpoint `endpoint`) and returns
 * the connections whose order-free fields differ from `expected`, with both versions.
 */
export async function stateMismatches(
  expected: ReadonlyMap<string, Record<string, unknown>>,
  endpoint: string,
  tableName: string,
): Promise<{ connectionId: string; expected: Record<string, unknown>; stored: Record<string, unknown> | undefined }[]> {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const store = new DynamoDbEventStore(DynamoDBDocumentClient.from(client), { tableName, retentionSeconds: 86_400, leaseMs: 30_000 });
  try {
    const out: { connectionId: string; expected: Record<string, unknown>; stored: Record<string, unknown> | undefined }[] = [];
    for (const [connectionId, want] of expected) {
      const state = await store.getConnection(connectionId);
      const stored = state && pick(state as unknown as Record<string, unknown>);
      if (JSON.stringify(stored) !== JSON.stringify(want)) out.push({ connectionId, expected: want, stored });
    }
    return out;
  } finally {
    client.destroy();
  }
}

function pick(state: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(ORDER_FREE_FIELDS.filter((k) => state[k] !== undefined).map((k) => [k, state[k]]));
}
