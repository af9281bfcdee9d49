import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { makiniScheme } from '../../lambdas/core/signature';
import { startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';

jest.setTimeout(180_000);

/** A short consumer timeout keeps the visibility timeout (6x) short, so messages in flight at the crash come back soon. */
const FAST = { MAKINI_CONSUMER_TIMEOUT_SECONDS: '1' };

describe('crash test', () => {
  let stack: StackProcess | undefined;
  afterEach(async () => {
    await stack?.kill9();
  });

  it('processes every acknowledged webhook exactly once across a kill -9 and a restart', async () => {
    stack = await startStackProcess({ env: FAST });
    const { dir } = stack;
    const scheme = makiniScheme('x-makini-signature', 'sha256');
    const total = 1_000;
    const acknowledged = new Set<string>();
    let killed = false;
    let next = 0;

    const sender = async (s: StackProcess) => {
      while (next < total) {
        const i = next++;
        const id = `evt_crash_${String(i).padStart(4, '0')}`;
        const body = JSON.stringify({ id, type: 'sync.completed', timestamp: new Date(Date.UTC(2026, 10, 22, 5, 0, i)).toISOString(), connection_id: `conn_${i % 25}`, data: {} });
        try {
          const response = await fetch(s.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...scheme.sign(Buffer.from(body), s.secret) }, body });
          if (response.status === 200) acknowledged.add(id);
        } catch {
          // the stack died under this request: not acknowledged, so Makini would retry it
        }
        if (!killed && acknowledged.size >= 400) {
          killed = true;
          await s.kill9();
        }
      }
    };
    const first = stack;
    await Promise.all(Array.from({ length: 16 }, () => sender(first)));
    expect(killed).toBe(true);
    expect(acknowledged.size).toBeGreaterThanOrEqual(400);
    expect(acknowledged.size).toBeLessThan(total);

    stack = await startStackProcess({ dir, env: FAST });
    const client = new DynamoDBClient({ endpoint: stack.info.endpoints.dynamodb });
    const store = new DynamoDbEventStore(DynamoDBDocumentClient.from(client), { tableName: stack.info.tableName, retentionSeconds: 0, leaseMs: 0 });
    try {
      const done = async () => {
        const stored = await store.listAllEvents(10_000);
        return new Map(stored.filter((w) => w.status === 'DONE').map((w) => [w.webhookId, w]));
      };
      await waitFor(async () => {
        const processed = await done();
        return [...acknowledged].every((id) => processed.has(id));
      }, 120_000, () => 'every acknowledged webhook to be processed');
      const processed = await done();
      for (const id of acknowledged) expect(processed.get(id)).toMatchObject({ status: 'DONE', deliveries: 1 });
    } finally {
      client.destroy();
    }
  });
});
