import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DescribeRuleCommand, EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { readBusLog, startLocalEventBridge } from '../../local/aws/eventbridge';

describe('local EventBridge endpoint (through the AWS SDK)', () => {
  it('appends put events to its log, reports bad entries per entry, and refuses what it does not implement', async () => {
    const log = path.join(mkdtempSync(path.join(tmpdir(), 'local-eb-')), 'bus.jsonl');
    const bus = await startLocalEventBridge({ log });
    const client = new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 });
    try {
      const result = await client.send(
        new PutEventsCommand({
          Entries: [
            { EventBusName: 'makini', Source: 'makini.webhooks', DetailType: 'sync.completed', Detail: '{"event":{"webhookId":"evt_1"}}', Time: new Date('2026-11-22T05:00:00Z') },
            { EventBusName: 'makini', Source: 'makini.webhooks', DetailType: 'x', Detail: 'not json' },
          ],
        }),
      );
      expect(result.FailedEntryCount).toBe(1);
      expect(result.Entries?.[1].ErrorCode).toBe('MalformedDetail');
      expect(readBusLog(log)).toEqual([
        expect.objectContaining({ source: 'makini.webhooks', 'detail-type': 'sync.completed', 'event-bus-name': 'makini', time: '2026-11-22T05:00:00.000Z', detail: { event: { webhookId: 'evt_1' } } }),
      ]);
      await expect(client.send(new DescribeRuleCommand({ Name: 'r' }))).rejects.toMatchObject({ name: 'UnknownOperationException' });
    } finally {
      client.destroy();
      await bus.close();
    }
  });
});

describe('local EventBridge limits', () => {
  it('refuses a call whose entries take more than 256 KB together, sized as EventBridge sizes them, and puts one of exactly 256 KB', async () => {
    const bus = await startLocalEventBridge();
    const client = new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 });
    // Time 14 bytes, Source 15, DetailType 14, Resources 3 + 4, Detail the rest.
    const entry = (detailBytes: number) => ({ Source: 'makini.webhooks', DetailType: 'assets.updated', Resources: ['r:1', 'r:22'], Time: new Date('2026-11-22T05:00:00Z'), Detail: JSON.stringify({ pad: 'x'.repeat(detailBytes - 10) }) });
    try {
      const whole = 262_144 - 14 - 15 - 14 - 7;
      await expect(client.send(new PutEventsCommand({ Entries: [entry(whole + 1)] }))).rejects.toMatchObject({ name: 'ValidationException', message: 'Total size of the entries in the request is over the limit.' });
      await expect(client.send(new PutEventsCommand({ Entries: [entry(whole)] }))).resolves.toMatchObject({ FailedEntryCount: 0 });
      // Without Time and Resources, 21 bytes more of Detail fit.
      await expect(client.send(new PutEventsCommand({ Entries: [{ ...entry(whole + 21), Time: undefined, Resources: undefined }] }))).resolves.toMatchObject({ FailedEntryCount: 0 });
      // Together: each entry counts its own Time, Source, DetailType and Resources.
      await expect(client.send(new PutEventsCommand({ Entries: [entry(150_000), entry(whole - 150_000)] }))).rejects.toMatchObject({ name: 'ValidationException' });
      expect(bus.events()).toHaveLength(2);
    } finally {
      client.destroy();
      await bus.close();
    }
  });
});

describe('local EventBridge faults', () => {
  it('refuses the entries rejectEntry picks, each on its own with an ErrorCode, and puts the others', async () => {
    const bus = await startLocalEventBridge({ rejectEntry: (entry) => (JSON.parse(entry.Detail) as { n: number }).n === 2 });
    const client = new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 });
    try {
      const entry = (n: number) => ({ EventBusName: 'makini', Source: 'makini.webhooks', DetailType: 'sync.completed', Detail: JSON.stringify({ n }) });
      const result = await client.send(new PutEventsCommand({ Entries: [entry(1), entry(2), entry(3)] }));
      expect(result.FailedEntryCount).toBe(1);
      expect(result.Entries?.[1]).toEqual({ ErrorCode: 'InternalFailure', ErrorMessage: expect.any(String) });
      expect(result.Entries?.[1].EventId).toBeUndefined();
      expect(result.Entries?.[0].EventId).toBe(bus.events()[0].id);
      expect(result.Entries?.[2].EventId).toBe(bus.events()[1].id);
      expect(bus.events().map((e) => e.detail)).toEqual([{ n: 1 }, { n: 3 }]);
      expect(bus.calls.PutEvents).toBe(1);
    } finally {
      client.destroy();
      await bus.close();
    }
  });

  it('answers a whole call with the fault in force: unavailable (a 5xx the SDK retries) or throttled', async () => {
    let fault: 'unavailable' | 'throttled' | undefined = 'unavailable';
    const operations: string[] = [];
    const bus = await startLocalEventBridge({
      fault: (operation) => {
        operations.push(operation);
        return fault;
      },
    });
    const client = new EventBridgeClient({ endpoint: bus.url, maxAttempts: 2 });
    const put = () => client.send(new PutEventsCommand({ Entries: [{ EventBusName: 'makini', Source: 's', DetailType: 'd', Detail: '{}' }] }));
    try {
      await expect(put()).rejects.toMatchObject({ name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503, attempts: 2 } });
      fault = 'throttled';
      await expect(put()).rejects.toMatchObject({ name: 'ThrottlingException' });
      expect(operations).toEqual(['PutEvents', 'PutEvents', 'PutEvents', 'PutEvents']);
      expect(bus.events()).toEqual([]);
      fault = undefined;
      expect((await put()).FailedEntryCount).toBe(0);
      expect(bus.events()).toHaveLength(1);
    } finally {
      client.destroy();
      await bus.close();
    }
  });
});

describe('EventBridgePublisher against the local bus', () => {
  it('bounds an event type longer than a detail-type may be, so one bad event does not fail its whole PutEvents call', async () => {
    const { EventBridgePublisher } = await import('../../lambdas/adapters/eventbridge-publisher');
    const log = path.join(mkdtempSync(path.join(tmpdir(), 'local-eb-')), 'bus.jsonl');
    const bus = await startLocalEventBridge({ log });
    const client = new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 });
    try {
      const longType = `assets.${'x'.repeat(200)}.updated`;
      const message = (webhookId: string, type: string) =>
        ({ event: { webhookId, type, occurredAt: '2026-11-22T05:00:00.000000000Z', timeSource: 'body', connectionId: 'c', data: {}, source: 'webhook', receivedAt: '2026-11-22T05:00:00.000Z' }, state: { connectionId: 'c', status: 'unknown' }, stale: false }) as never;
      const accepted = await new EventBridgePublisher(client, 'makini').publish([message('evt_ok', 'assets.updated'), message('evt_long', longType)]);
      expect(accepted).toEqual([true, true]);
      const types = readBusLog(log).map((e) => e['detail-type']);
      expect(types[0]).toBe('assets.updated');
      expect(types[1]).toHaveLength(128);
      expect(types[1]).toMatch(/^assets\.x+~[0-9a-f]{8}$/);
      expect((readBusLog(log)[1].detail as { event: { type: string } }).event.type).toBe(longType); // the full type stays in the detail
    } finally {
      client.destroy();
      await bus.close();
    }
  });
});
