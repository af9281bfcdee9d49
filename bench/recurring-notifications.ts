/**
 * Issue 17, item 1 at scale: a record notified again and again. Makini's notifications carry no id,
 * so each is deduplicated by content, and a record updated every 20 minutes gets a new generation of
 * its content key each time; the store keeps the newest 32 (`MAX_GENERATIONS`). What one new
 * generation's write costs once the item holds them all, against the same 32 generations written
 * as a list of maps (the only form before 2026-12-03), in the same run.
 *
 * The production store on dynalite, with a clock: 40 events 20 minutes apart, each with a retry 5
 * minutes later. Units are dynalite's consumed capacity (DynamoDB's sizing rules). Figures, never
 * assertions.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEventStore, readGenerations } from '../lambdas/adapters/dynamodb-event-store';
import { MAX_GENERATIONS } from '../lambdas/core/content-dedup';
import { putCapacityRecorder, startDynalite } from '../test/support/dynalite';
import { round, type Row } from './rows';

const EVENTS = 40;
const KEY = `sha256:${'5'.repeat(64)}`;

export async function recurringNotifications(rows: Row[]): Promise<void> {
  const dynamo = await startDynalite();
  try {
    let start = Date.parse('2026-12-01T00:00:00.000Z');
    const { client, units } = putCapacityRecorder(dynamo.doc, 'generations');
    const store = new DynamoDbEventStore(client, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000, now: () => start });
    const ids = new Set<string>();
    for (let i = 0; i < EVENTS; i++, start += 20 * 60_000) {
      ids.add(await store.resolveContentId(KEY, new Date(start).toISOString()));
      ids.add(await store.resolveContentId(KEY, new Date(start + 5 * 60_000).toISOString()));
    }
    const key = { pk: `CONTENT#${KEY}`, sk: 'GENERATION' };
    const kept = readGenerations((await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: key }))).Item ?? {});
    const asMaps = await dynamo.doc.send(
      new PutCommand({ TableName: dynamo.tableName, Item: { ...key, sk: 'BASELINE', entity: 'baseline', generations: kept, version: EVENTS, expiresAt: 1_800_000_000 }, ReturnConsumedCapacity: 'TOTAL' }),
    );
    const full = units.slice(MAX_GENERATIONS);
    const mean = full.reduce((a, b) => a + b, 0) / full.length;
    rows.push({
      metric: `DynamoDB write units per new generation of a record notified again and again (${EVENTS} events 20 min apart, each retried; ${MAX_GENERATIONS} generations kept; writes ${MAX_GENERATIONS + 1}–${EVENTS})`,
      value: round(mean, 2),
      unit: 'WRU',
      target: '≤ 1 (what a one-off notification costs)',
      baseline: `the same ${kept.length} generations as a list of maps: ${asMaps.ConsumedCapacity?.CapacityUnits} WRU; ${units.length} writes for ${EVENTS * 2} copies, ${ids.size} events`,
      met: mean <= 1 && ids.size === EVENTS && units.length === EVENTS,
    });
  } finally {
    await dynamo.close();
  }
}
