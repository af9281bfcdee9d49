import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { resolveConfig } from '../../lambdas/config/config';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { makiniScheme } from '../../lambdas/core/signature';
import { createReceiverHandler } from '../../lambdas/receiver/receiver';
import { startHttpApi, type HttpApi } from '../../local/http-api';
import { buildStream, simulate } from '../../local/simulator';
import { cli } from '../support/run-cli';

const SECRET = 'simulator-secret-4e1f';
const scheme = makiniScheme(['x-webhook-signature'], 'sha256');
let api: HttpApi;
let stored: string[];
let failNextSends: number;

beforeEach(async () => {
  stored = [];
  failNextSends = 0;
  const handler = createReceiverHandler({
    config: resolveConfig(),
    secrets: { get: async () => [SECRET], refresh: async () => undefined },
    queue: {
      send: async (m) => {
        if (failNextSends > 0) {
          failNextSends--;
          throw new Error('queue unavailable');
        }
        stored.push(m);
      },
    },
    logger: new Logger({ serviceName: 'receiver', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'receiver' }),
  });
  api = await startHttpApi({ routes: { '/webhooks': handler, '/webhooks/{connection}': handler } });
});
afterEach(async () => api.close());

const base = { secret: SECRET, scheme, connections: 4, events: 5, duplicates: 0.3, shuffle: true, rate: 0, concurrency: 4, timeScale: 0.0001, seed: 7 };

describe('simulator', () => {
  it('builds the same stream from the same seed, with duplicates and out-of-order delivery', () => {
    const a = buildStream(base);
    expect(buildStream(base)).toEqual(a);
    expect(a.length).toBeGreaterThan(20); // 20 events plus duplicates
    expect(new Set(a.map((d) => d.id)).size).toBe(20);
    const inOrder = buildStream({ ...base, shuffle: false });
    expect(a.map((d) => d.id)).not.toEqual(inOrder.map((d) => d.id));
    expect([...a].map((d) => d.body).sort()).toEqual([...inOrder].map((d) => d.body).sort());
  });

  it('names as many records per notification as asked (about 39 bytes each), except the status ones', () => {
    const stream = buildStream({ ...base, duplicates: 0, recordsPerNotification: 25 });
    const records = stream.map((d) => (JSON.parse(d.body) as { event: string; body: string[] }));
    for (const r of records.filter((n) => n.event !== 'connections.updated')) expect(r.body).toHaveLength(25);
    expect(stream.filter((d) => !d.body.includes('connections.updated')).every((d) => d.body.length > 950 && d.body.length < 1050)).toBe(true);
    expect(buildStream({ ...base, duplicates: 0 }).some((d) => (JSON.parse(d.body) as { body: string[] }).body.length !== 25)).toBe(true);
  });

  it("plays Makini's notifications by default, each connection's to its own URL, and lifecycle events on request", async () => {
    const result = await simulate({ ...base, duplicates: 0, url: `${api.url}/webhooks` });
    expect(result).toMatchObject({ failed: 0, acknowledged: 20 });
    const envelopes = stored.map((m) => decodeEnvelope(m));
    expect(new Set(envelopes.map((e) => e.envelope.connectionId))).toEqual(new Set(['conn_sim_0', 'conn_sim_1', 'conn_sim_2', 'conn_sim_3']));
    for (const { envelope, body } of envelopes) {
      expect(envelope.dedup).toBe('content');
      expect(Object.keys(JSON.parse(body.toString()))).toEqual(['event', 'body']);
    }
    stored = [];
    await simulate({ ...base, duplicates: 0, format: 'lifecycle', url: `${api.url}/webhooks` });
    expect(stored.map((m) => decodeEnvelope(m).envelope.dedup ?? 'id')).toEqual(Array(20).fill('id'));
  });

  it('retries 503s with Makini’s (scaled) backoff until every webhook is acknowledged', async () => {
    failNextSends = 5;
    const result = await simulate({ ...base, url: `${api.url}/webhooks` });
    expect(result).toMatchObject({ failed: 0, acknowledged: result.sent });
    expect(result.retried).toBeGreaterThanOrEqual(1);
    expect(new Set(stored.map((m) => decodeEnvelope(m).envelope.webhookId))).toEqual(result.acknowledgedIds);
  });

  it('gives up on a delivery once Makini’s 24 h (scaled) have passed', async () => {
    failNextSends = Number.POSITIVE_INFINITY;
    const result = await simulate({ ...base, connections: 1, events: 2, duplicates: 0, url: `${api.url}/webhooks`, timeScale: 0.00001 });
    expect(result).toMatchObject({ sent: 2, acknowledged: 0, failed: 2 });
  });

  it('runs from the CLI and prints a summary', async () => {
    const { code, stdout } = await cli(['simulate', '--url', `${api.url}/webhooks`, '--secret', SECRET, '--connections', '3', '--events', '4', '--duplicates', '0', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ sent: 12, acknowledged: 12, retried: 0, failed: 0 });
  });
});
