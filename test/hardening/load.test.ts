import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { makiniScheme } from '../../lambdas/core/signature';
import { buildStream, simulate } from '../../local/simulator';
import { startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';

jest.setTimeout(240_000);

describe('load (small and bounded, loopback only)', () => {
  let stack: StackProcess | undefined;
  afterEach(async () => {
    await stack?.stop();
  });

  it('2,000 webhooks at concurrency 48: every acknowledged one processed, none twice', async () => {
    stack = await startStackProcess();
    const options = { url: stack.info.webhookUrl, secret: stack.secret, scheme: makiniScheme('x-makini-signature', 'sha256'), format: 'lifecycle' as const, connections: 100, events: 20, duplicates: 0, shuffle: true, rate: 0, concurrency: 48, timeScale: 0.001, seed: 2000 };
    const result = await simulate(options);
    expect(result).toMatchObject({ sent: 2000, acknowledged: 2000, failed: 0 });

    const client = new DynamoDBClient({ endpoint: stack.info.endpoints.dynamodb });
    const store = new DynamoDbEventStore(DynamoDBDocumentClient.from(client), { tableName: stack.info.tableName, retentionSeconds: 0, leaseMs: 0 });
    try {
      const done = async () => (await store.listAllEvents(10_000)).filter((w) => w.status === 'DONE');
      await waitFor(async () => (await done()).length === 2000, 180_000, () => 'all 2,000 to be processed');
      const processed = await done();
      expect(new Set(processed.map((w) => w.webhookId))).toEqual(new Set(buildStream(options).map((d) => d.id)));
      expect(processed.every((w) => w.deliveries === 1)).toBe(true);
    } finally {
      client.destroy();
    }
  });
});
