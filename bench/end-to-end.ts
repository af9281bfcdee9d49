/**
 * Rows 3 and 4 of `npm run bench`: the whole pipeline as `npm start` runs it (a child process, state
 * on disk), loaded by `makini-webhooks simulate`'s engine from this process.
 *
 * - sustained acknowledged webhooks/s, against the same server's no-op route as the floor;
 * - the receiver's p50/p99 at a fixed 200/s, against the floor at the same rate;
 * - how long the consumer needs to drain what was acknowledged, and acknowledged − processed;
 * - AWS calls per webhook, counted by the local endpoints, per service and operation.
 */
import { get } from 'node:http';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createSignatureScheme } from '../lambdas/core/signature';
import { resolveConfig } from '../lambdas/config/config';
import { readBusLog } from '../local/aws/eventbridge';
import { buildStream, simulate, type SimulateOptions } from '../local/simulator';
import { LOCAL_CALLS_PATH } from '../local/stack';
import { startStackProcess, waitFor, type StackProcess } from '../test/support/local-stack-process';
import { phaseUnits } from './cost';
import { median, percentile, round, type Row } from './rows';

/** Calls per service and operation; `dynamodbItems`: DynamoDB's single-item calls by item kind (`UpdateItem WEBHOOK`). */
export type Calls = Record<'sqs' | 'dynamodb' | 'dynamodbItems' | 'secretsManager' | 'eventBridge', Record<string, number>>;
export type Invocations = Record<string, { invocations: number; ms: number }>;
export type Snapshot = Calls & { lambda: Invocations };

const SERVICES = ['sqs', 'dynamodb', 'dynamodbItems', 'secretsManager', 'eventBridge'] as const;

/** Per-operation difference of two call snapshots. */
export function delta(after: Calls, before: Calls): Calls {
  const out = {} as Calls;
  for (const service of SERVICES) {
    out[service] = {};
    for (const [op, n] of Object.entries(after[service] ?? {})) if (n - (before[service]?.[op] ?? 0) > 0) out[service][op] = n - (before[service]?.[op] ?? 0);
  }
  return out;
}

export const WRITES = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems'];
export const READS = ['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems'];
const sum = (ops: Record<string, number>, names: readonly string[]) => names.reduce((n, op) => n + (ops[op] ?? 0), 0);
const perWebhook = (n: number, webhooks: number) => round(n / webhooks, 3);

function lambdaDelta(after: Invocations, before: Invocations): Invocations {
  return Object.fromEntries(Object.entries(after).map(([name, a]) => [name, { invocations: a.invocations - (before[name]?.invocations ?? 0), ms: a.ms - (before[name]?.ms ?? 0) }]));
}

/** Mean size and capacity units of one kind of item (`WEBHOOK`, `STATE`, `GENERATION`, …). */
export interface ItemUnits {
  readonly count: number;
  readonly bytes: number;
  readonly bodyBytes: number;
  /** Write units of one write of it (DynamoDB's sizing rules, as dynalite implements them). */
  readonly wru: number;
  /** Read units of one strongly consistent read of it. */
  readonly rru: number;
}

/**
 * Sizes and capacity units of the stack's items, by kind (the sort key up to its first `#`), read
 * with a Scan straight from the stack's DynamoDB endpoint. `keep` picks the items that count (the
 * webhook items of one phase, say).
 */
async function itemUnits(stack: StackProcess, keep: (kind: string, item: Record<string, AttributeValue>) => boolean): Promise<Map<string, ItemUnits>> {
  const { DynamoDBClient, ScanCommand } = await import('@aws-sdk/client-dynamodb');
  const { capacityUnits, itemSize } = await import('dynalite/db');
  const client = new DynamoDBClient({ endpoint: stack.info.endpoints.dynamodb, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const byKind = new Map<string, Record<string, AttributeValue>[]>();
  try {
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: stack.info.tableName, ExclusiveStartKey }));
      for (const item of page.Items ?? []) {
        const kind = (item.sk?.S ?? '').split('#')[0];
        if (keep(kind, item)) byKind.set(kind, [...(byKind.get(kind) ?? []), item]);
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  } finally {
    client.destroy();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return new Map(
    [...byKind].map(([kind, items]) => [
      kind,
      {
        count: items.length,
        bytes: mean(items.map((i) => itemSize(i))),
        bodyBytes: mean(items.map((i) => i.body?.B?.length ?? 0)),
        wru: mean(items.map((i) => capacityUnits(i, false))),
        rru: mean(items.map((i) => capacityUnits(i, true, true))),
      },
    ]),
  );
}

/** Every webhook id the consumer put on the bus, with how many times. */
export function processedIds(stack: StackProcess): Map<string, number> {
  const seen = new Map<string, number>();
  for (const event of readBusLog(stack.info.busLog)) {
    const id = (event.detail as { event?: { webhookId?: string } }).event?.webhookId;
    if (id) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  return seen;
}

/** The same load against the stack's no-op diagnostics route: what loopback HTTP costs on this machine. */
async function floor(url: string, requests: number, concurrency: number, rate: number): Promise<{ perSecond: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      if (rate > 0) {
        const due = started + (i * 1000) / rate;
        if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      }
      const t0 = performance.now();
      await (await fetch(url)).arrayBuffer();
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { perSecond: requests / ((performance.now() - started) / 1000), latenciesMs: latenciesMs.sort((a, b) => a - b) };
}

/** What the cost model needs from the pipeline run, per webhook unless named otherwise. */
export interface PipelineFigures {
  readonly sqsRequestsPerWebhook: number;
  readonly busEventsPerWebhook: number;
  readonly wruPerNew: number;
  readonly rruPerNew: number;
  readonly receiverMsPerInvocation: number;
  readonly consumerInvocationsPerWebhook: number;
  readonly consumerMsPerWebhook: number;
  readonly webhookItemBytes: number;
  readonly bodyBytes: number;
  readonly busEventBytes: number;
  /** The same for Makini's own notifications of about 1 KB (phase 4). */
  readonly notifications: { readonly wruPerNew: number; readonly rruPerNew: number; readonly webhookItemBytes: number; readonly bodyBytes: number; readonly busEventBytes: number };
}

/** Record ids per notification in phase 4: 25 UUIDs make a body of about 1 KB. */
const NOTIFICATION_RECORDS = 25;

/** The content key an event deduplicated by content was named after (`sha256:…@<time>` → `sha256:…`). */
const contentKeyOf = (webhookId: string) => webhookId.replace(/@.*$/, '');

/** Mean bytes of the bus events (as the archive keeps them: the whole event) whose webhook id `keep` picks. */
function busEventBytes(stack: StackProcess, keep: (webhookId: string) => boolean): number {
  const sizes = readBusLog(stack.info.busLog)
    .filter((event) => keep((event.detail as { event?: { webhookId?: string } }).event?.webhookId ?? ''))
    .map((event) => Buffer.byteLength(JSON.stringify(event)));
  return sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length);
}

/** The webhook id of a webhook item or of its body item (`WEBHOOK#<id>`). */
const webhookIdOf = (item: Record<string, AttributeValue>) => (item.pk?.S ?? '').slice('WEBHOOK#'.length);

/**
 * Bytes stored per webhook: its item, its body item for those kept apart, and its content key's
 * generations item for those without an id (kept as long as the webhook items since 2026-12-03).
 */
function storedBytes(units: ReadonlyMap<string, ItemUnits>): number {
  const webhook = units.get('WEBHOOK');
  const share = (kind: string) => {
    const other = units.get(kind);
    return other && webhook ? (other.bytes * other.count) / webhook.count : 0;
  };
  return (webhook?.bytes ?? 0) + share('BODY') + share('GENERATION');
}

/** How many times the consumer put each content key's events on the bus. */
function contentKeysProcessed(stack: StackProcess): Map<string, number> {
  const seen = new Map<string, number>();
  for (const [id, n] of processedIds(stack)) if (id.startsWith('sha256:')) seen.set(contentKeyOf(id), (seen.get(contentKeyOf(id)) ?? 0) + n);
  return seen;
}

/** Single-item calls less `n` of each of `calls` (the calls of `n` messages priced elsewhere). */
function withoutCalls(itemCalls: Record<string, number>, n: number, calls: readonly string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(itemCalls).map(([call, count]) => [call, calls.includes(call) ? Math.max(0, count - n) : count]));
}

/** A row of write units per webhook against issue 17's limit, with the read units and each call's share. */
function capacityRow(metric: string, phase: ReturnType<typeof phaseUnits>, webhooks: number, limit: number, more = ''): Row {
  return {
    metric,
    value: round(phase.wru / webhooks, 2),
    unit: 'WRU',
    target: `≤ ${limit} (issue 17)`,
    met: phase.wru / webhooks <= limit,
    baseline: `${round(phase.rru / webhooks, 2)} RRU; per webhook: ${phase.byCall.map((c) => perCall(c, webhooks)).join(', ')}${more}`,
  };
}

/** `UpdateItem WEBHOOK 3000 × 2 WRU` for 1,500 webhooks → `UpdateItem WEBHOOK 2 × 2 WRU`. */
const perCall = (call: string, webhooks: number) => call.replace(/ (\d+) × /, (_, n: string) => ` ${round(Number(n) / webhooks, 3)} × `);

export async function endToEnd(rows: Row[]): Promise<PipelineFigures> {
  // WARN: the stack's one line per processed webhook would be most of its work otherwise.
  const stack = await startStackProcess({ env: { MAKINI_LOG_LEVEL: 'WARN' } });
  const sqs = new SQSClient({ endpoint: stack.info.endpoints.sqs, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  try {
    const origin = new URL(stack.info.webhookUrl).origin;
    const callsUrl = `${origin}${LOCAL_CALLS_PATH}`;
    const calls = () => getJson(callsUrl) as Promise<Snapshot>;
    const load = (o: Partial<SimulateOptions>) =>
      simulate({ url: stack.info.webhookUrl, secret: stack.secret, scheme: createSignatureScheme(resolveConfig()), format: 'lifecycle', connections: 100, events: 30, duplicates: 0, shuffle: true, rate: 0, concurrency: 64, timeScale: 0.001, seed: 1, ...o });
    const acknowledged = new Set<string>();
    // Drained: every acknowledged webhook is on the bus, and the queue is empty (so the consumer
    // also finished the completions it writes after publishing, which belong to this phase's calls).
    const drained = async (timeoutMs: number) => {
      const startedAt = performance.now();
      await waitFor(
        async () => {
          const processed = processedIds(stack);
          return [...acknowledged].every((id) => processed.has(id)) && (await queueEmpty());
        },
        timeoutMs,
        () => 'the consumer to drain',
      );
      return performance.now() - startedAt;
    };

    // Warm-up: every Lambda's first call, the secret cached, SDK connections open.
    const warm = await load({ connections: 10, events: 5, concurrency: 8, seed: 100 });
    warm.acknowledgedIds.forEach((id) => acknowledged.add(id));
    await drained(60_000);

    progress('warm-up done');
    // 1. Sustained throughput: three bursts of 1,500 distinct webhooks, as fast as 64 concurrent
    // senders go, each drained before the next; the median burst is reported.
    const before = await calls();
    const bursts: { perSecond: number; drainMs: number; processedPerSecond: number; latenciesMs: readonly number[]; failed: number }[] = [];
    const burstIds = new Set<string>();
    for (const seed of [1, 2, 3]) {
      const t0 = performance.now();
      const burst = await load({ seed, connections: 50 });
      const sendSeconds = (performance.now() - t0) / 1000;
      burst.acknowledgedIds.forEach((id) => (acknowledged.add(id), burstIds.add(id)));
      const drainMs = await drained(300_000);
      bursts.push({ perSecond: burst.acknowledged / sendSeconds, drainMs, processedPerSecond: burst.acknowledged / ((performance.now() - t0) / 1000), latenciesMs: burst.latenciesMs, failed: burst.failed });
      progress(`burst ${seed}: ${burst.acknowledged} acknowledged in ${round(sendSeconds)} s, drained ${round(drainMs / 1000)} s later`);
    }
    const newCalls = delta(await calls(), before);
    const distinct = burstIds.size;
    const units = await itemUnits(stack, (kind, item) => kind === 'STATE' || ((kind === 'WEBHOOK' || kind === 'BODY') && burstIds.has(webhookIdOf(item))));
    const webhookItem = units.get('WEBHOOK') ?? { wru: 0, bytes: 0, bodyBytes: 0 };
    const floorBurst = await floor(callsUrl, 1_500, 64, 0);
    const typical = [...bursts].sort((a, b) => a.perSecond - b.perSecond)[1];
    rows.push({
      metric: 'end-to-end: sustained acknowledged webhooks/s (median of 3 bursts of 1,500 distinct, 64 concurrent senders)',
      value: round(typical.perSecond),
      unit: '/s',
      target: '≥ 500/s',
      baseline: `bursts ${bursts.map((b) => round(b.perSecond)).join(', ')}/s; no-op route of the same server ${round(floorBurst.perSecond)}/s; median burst p50 ${round(percentile(typical.latenciesMs, 0.5))} ms, p99 ${round(percentile(typical.latenciesMs, 0.99))} ms`,
      met: typical.perSecond >= 500 && bursts.every((b) => b.failed === 0),
    });
    rows.push({
      metric: 'end-to-end: consumer drain after the last acknowledgment (median burst)',
      value: round(median(bursts.map((b) => b.drainMs)) / 1000, 1),
      unit: 's',
      baseline: `${round(median(bursts.map((b) => b.processedPerSecond)))} webhooks/s processed from first send to last processed`,
    });

    // 2. Duplicates: the first burst's deliveries again, byte-identical.
    const beforeDup = await calls();
    const dup = await load({ seed: 1, connections: 50 });
    await waitFor(queueEmpty, 300_000, () => 'the duplicates to drain');
    const dupCalls = delta(await calls(), beforeDup);
    progress(`duplicates: ${dup.acknowledged} acknowledged`);

    // 3. Latency at a fixed offered load: three runs of 200/s for 10 s; the median p99 is reported.
    const beforeSteady = await calls();
    const steadyRuns: { p50: number; p99: number; acknowledged: number; failed: number }[] = [];
    for (const seed of [4, 5, 6]) {
      const run = await load({ seed, connections: 100, events: 20, rate: 200, concurrency: 64 });
      run.acknowledgedIds.forEach((id) => acknowledged.add(id));
      steadyRuns.push({ p50: percentile(run.latenciesMs, 0.5), p99: percentile(run.latenciesMs, 0.99), acknowledged: run.acknowledged, failed: run.failed });
      await drained(300_000); // each run starts with an empty queue, not the last run's backlog
    }
    const floorSteady = await floor(callsUrl, 2_000, 64, 200);
    const steadyP99 = median(steadyRuns.map((r) => r.p99));
    rows.push({
      metric: 'end-to-end: receiver p99 at 200 webhooks/s offered (median of 3 runs of 10 s)',
      value: round(steadyP99),
      unit: 'ms',
      target: '≤ 50 ms',
      baseline: `p99 per run ${steadyRuns.map((r) => round(r.p99)).join(', ')} ms; p50 ${round(median(steadyRuns.map((r) => r.p50)))} ms; no-op route at 200/s: p50 ${round(percentile(floorSteady.latenciesMs, 0.5))} ms, p99 ${round(percentile(floorSteady.latenciesMs, 0.99))} ms`,
      met: steadyP99 <= 50 && steadyRuns.every((r) => r.failed === 0),
    });
    await drained(300_000);
    const afterSteady = await calls();
    const steadyLambda = lambdaDelta(afterSteady.lambda, beforeSteady.lambda);
    const steadyCalls = delta(afterSteady, beforeSteady);
    const processed = processedIds(stack);
    const lost = [...acknowledged].filter((id) => !processed.has(id)).length;
    const twice = [...processed.values()].filter((n) => n > 1).length;
    rows.push({
      metric: 'end-to-end: acknowledged − processed (all phases, duplicates included)',
      value: lost,
      unit: 'webhooks',
      target: '0, and none processed twice',
      baseline: `${acknowledged.size.toLocaleString('en')} distinct acknowledged, ${processed.size.toLocaleString('en')} processed, ${twice} twice; ${dup.acknowledged.toLocaleString('en')} duplicate deliveries acknowledged`,
      met: lost === 0 && twice === 0,
    });

    // AWS calls per webhook (row 4). The receiver's are counted at the steady 200/s: in the bursts,
    // 64 senders on this one machine push some SendMessage calls past the SDK's 1 s per-attempt
    // timeout, and the SDK retries them (a duplicate message the consumer then absorbs).
    const steadyAcks = steadyRuns.reduce((n, r) => n + r.acknowledged, 0);
    const send = steadyCalls.sqs.SendMessage ?? 0;
    const burstRetries = (newCalls.sqs.SendMessage ?? 0) - distinct;
    const secretCalls = sum(newCalls.secretsManager, ['GetSecretValue']) + sum(dupCalls.secretsManager, ['GetSecretValue']) + sum(steadyCalls.secretsManager, ['GetSecretValue']);
    rows.push({
      metric: 'AWS calls: receiver, per webhook (warm, at 200/s)',
      value: perWebhook(send, steadyAcks),
      unit: 'SQS calls',
      target: '1 SQS, 0 Secrets Manager',
      baseline: `SendMessage ${send} for ${steadyAcks} webhooks; GetSecretValue ${secretCalls} over all ${(distinct + dup.acknowledged + steadyAcks).toLocaleString('en')} deliveries; bursts: ${burstRetries} SDK retries of timed-out sends in ${distinct}`,
      met: send === steadyAcks && secretCalls === 0,
    });
    const ddbWrites = sum(newCalls.dynamodb, WRITES);
    const ddbReads = sum(newCalls.dynamodb, READS);
    rows.push({
      metric: 'AWS calls: consumer, DynamoDB per new webhook',
      value: perWebhook(ddbWrites, distinct),
      unit: 'writes',
      target: '≤ 3 writes',
      baseline: `${perWebhook(ddbReads, distinct)} reads; ${describeOps(newCalls.dynamodb, distinct)}`,
      met: ddbWrites / distinct <= 3,
    });
    // Capacity units, from the sizes of the items those calls wrote (DynamoDB's sizing rules, as
    // dynalite implements them): each claim and completion writes the webhook item, each state
    // write the connection's item; the keys-only index entry is written once, by the claim.
    // A send the SDK retried is a second message (see above): its claim is a duplicate's, not this figure's.
    const burstUnits = phaseUnits(withoutCalls(newCalls.dynamodbItems, burstRetries, ['UpdateItem WEBHOOK']), units, distinct);
    const wruPerNew = burstUnits.wru / distinct;
    const rruPerNew = burstUnits.rru / distinct;
    rows.push(capacityRow(`DynamoDB capacity per new event with an id in the body (${round(webhookItem.bodyBytes)} B body; on-demand request units)`, burstUnits, distinct, 2, `, index entry 1 WRU; webhook item ${round(webhookItem.bytes)} B`));
    // Per duplicate message the consumer received (an SDK-retried send adds one, see above).
    const dupMessages = dupCalls.sqs.SendMessage ?? dup.acknowledged;
    const dupWrites = sum(dupCalls.dynamodb, WRITES);
    const dupReads = sum(dupCalls.dynamodb, READS);
    rows.push({
      metric: 'AWS calls: consumer, DynamoDB per duplicate',
      value: perWebhook(dupWrites, dupMessages),
      unit: 'writes',
      target: '≤ 1 read, ≤ 1 write',
      baseline: `${perWebhook(dupReads, dupMessages)} reads; ${Object.entries(dupCalls.dynamodb).map(([op, n]) => `${op} ${n}`).join(', ')} for ${dupMessages} duplicate messages (${dup.acknowledged} acknowledged requests)`,
      met: dupWrites / dupMessages <= 1 && dupReads / dupMessages <= 1,
    });
    // A duplicate's one write updates its webhook item (the delivery count), leaving the index keys alone.
    const wruPerDuplicate = phaseUnits(dupCalls.dynamodbItems, units, 0).wru / dupMessages;
    rows.push({
      metric: 'DynamoDB capacity per duplicate event with an id (on-demand request units)',
      value: round(wruPerDuplicate, 2),
      unit: 'WRU',
      target: '≤ 1 (issue 17)',
      baseline: `${dupWrites} writes of the ${round(webhookItem.bytes)} B webhook item (${round(webhookItem.wru, 2)} WRU each) for ${dupMessages} duplicate messages`,
      met: wruPerDuplicate <= 1,
    });
    const putEvents = newCalls.eventBridge.PutEvents ?? 0;
    rows.push({
      metric: 'AWS calls: consumer, EventBridge per new webhook',
      value: perWebhook(putEvents, distinct),
      unit: 'PutEvents',
      target: '≤ 0.2',
      baseline: `${putEvents} PutEvents for ${distinct} webhooks; duplicates: ${dupCalls.eventBridge.PutEvents ?? 0}`,
      met: putEvents / distinct <= 0.2,
    });
    rows.push({
      metric: 'AWS calls: event-source mapping, SQS per webhook',
      value: perWebhook(sum(newCalls.sqs, ['ReceiveMessage', 'DeleteMessageBatch', 'DeleteMessage', 'ChangeMessageVisibility', 'ChangeMessageVisibilityBatch']), distinct),
      unit: 'SQS calls',
      baseline: describeOps(Object.fromEntries(Object.entries(newCalls.sqs).filter(([op]) => op !== 'SendMessage')), distinct),
    });

    // 4. Makini's own notifications: `{"event", "body": [ids]}` naming 25 records (about 1 KB), each
    // connection's posted to its own URL. They carry no id, so each is deduplicated by content: a read
    // of its key's generations, and a write when it starts a new event (content-dedup.ts). Then the
    // same again, as Makini's retries within the window, each of which must be a duplicate.
    const notificationStream = { format: 'makini', recordsPerNotification: NOTIFICATION_RECORDS, seed: 7, connections: 50, events: 30 } as const;
    const notificationLoad = () => load(notificationStream);
    const sentBodies = buildStream({ ...notificationStream, duplicates: 0, shuffle: false }).map((entry) => Buffer.byteLength(entry.body));
    const noteBodyBytes = sentBodies.reduce((a, b) => a + b, 0) / sentBodies.length;
    const beforeNotes = await calls();
    const notes = await notificationLoad();
    const keys = notes.acknowledgedIds;
    await waitFor(
      async () => {
        const seen = contentKeysProcessed(stack);
        return [...keys].every((k) => seen.has(k)) && (await queueEmpty());
      },
      300_000,
      () => 'the notifications to drain',
    );
    const afterNotes = await calls();
    const again = await notificationLoad();
    await waitFor(queueEmpty, 300_000, () => 'the repeated notifications to drain');
    const noteCalls = delta(afterNotes, beforeNotes);
    const againCalls = delta(await calls(), afterNotes);
    const published = contentKeysProcessed(stack);
    const notesTwice = [...keys].filter((k) => published.get(k) !== 1).length;
    progress(`notifications: ${keys.size} new, ${again.acknowledged} repeated`);
    const noteUnits = await itemUnits(stack, (kind, item) => {
      if (kind === 'WEBHOOK' || kind === 'BODY') return keys.has(contentKeyOf(webhookIdOf(item)));
      if (kind === 'GENERATION') return keys.has((item.pk?.S ?? '').slice('CONTENT#'.length));
      return kind === 'STATE' || kind === 'POLL';
    });
    // Per message, as for phase 2: a send the SDK retried is one more duplicate (a claim and a generations read).
    const noteRetries = (noteCalls.sqs.SendMessage ?? keys.size) - keys.size;
    const noteNew = phaseUnits(withoutCalls(noteCalls.dynamodbItems, noteRetries, ['UpdateItem WEBHOOK', 'GetItem GENERATION']), noteUnits, keys.size);
    const repeats = againCalls.sqs.SendMessage ?? again.acknowledged;
    const noteDup = phaseUnits(againCalls.dynamodbItems, noteUnits, 0);
    // Every repeat reached the consumer and was claimed (and counted) as a duplicate.
    const repeatsClaimed = (againCalls.dynamodbItems['UpdateItem WEBHOOK'] ?? 0) >= repeats;
    const noteItem = noteUnits.get('WEBHOOK');
    rows.push({
      metric: `Makini notifications of ${round(noteBodyBytes)} B (${NOTIFICATION_RECORDS} record ids, deduplicated by content): acknowledged − processed, then each again`,
      value: [...keys].filter((k) => !published.has(k)).length,
      unit: 'webhooks',
      target: '0, and none processed twice',
      baseline: `${keys.size.toLocaleString('en')} distinct acknowledged, ${notesTwice} published other than once after ${again.acknowledged.toLocaleString('en')} repeats (${againCalls.dynamodbItems['UpdateItem WEBHOOK'] ?? 0} claims for ${repeats} repeat messages)`,
      met: [...keys].every((k) => published.get(k) === 1) && again.acknowledged === keys.size && repeatsClaimed,
    });
    rows.push(capacityRow('DynamoDB capacity per new Makini notification (on-demand request units)', noteNew, keys.size, 2, `, index entry 1 WRU; webhook item ${round(noteItem?.bytes ?? 0)} B${noteUnits.has('BODY') ? `, body item ${round(noteUnits.get('BODY')!.bytes)} B` : ''}`));
    rows.push(capacityRow('DynamoDB capacity per repeated Makini notification (on-demand request units)', noteDup, repeats, 1));

    const receiverStats = steadyLambda.receiver ?? { invocations: 0, ms: 0 };
    const consumerStats = steadyLambda.consumer ?? { invocations: 0, ms: 0 };
    const steadyWebhooks = steadyRuns.reduce((n, r) => n + r.acknowledged, 0);
    return {
      sqsRequestsPerWebhook: sum(newCalls.sqs, ['SendMessage', 'ReceiveMessage', 'DeleteMessageBatch', 'DeleteMessage', 'ChangeMessageVisibility', 'ChangeMessageVisibilityBatch']) / distinct,
      busEventsPerWebhook: 1,
      wruPerNew,
      rruPerNew,
      receiverMsPerInvocation: receiverStats.ms / Math.max(1, receiverStats.invocations),
      consumerInvocationsPerWebhook: consumerStats.invocations / Math.max(1, steadyWebhooks),
      consumerMsPerWebhook: consumerStats.ms / Math.max(1, steadyWebhooks),
      webhookItemBytes: storedBytes(units),
      bodyBytes: webhookItem.bodyBytes,
      busEventBytes: busEventBytes(stack, (id) => burstIds.has(id)),
      notifications: {
        wruPerNew: noteNew.wru / keys.size,
        rruPerNew: noteNew.rru / keys.size,
        webhookItemBytes: storedBytes(noteUnits),
        bodyBytes: noteBodyBytes,
        busEventBytes: busEventBytes(stack, (id) => keys.has(contentKeyOf(id))),
      },
    };

    /** No message waiting or in flight: the consumer has finished everything it received. */
    async function queueEmpty(): Promise<boolean> {
      const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.info.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
      return Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible) === 0;
    }
  } catch (error) {
    process.stderr.write(`bench e2e: the local stack printed:\n${stack.output().slice(-3000)}\n`);
    throw error;
  } finally {
    sqs.destroy();
    await stack.stop();
  }
}

/**
 * A GET on its own connection: a pooled keep-alive socket can be closed by the server while idle
 * (during a drain), and a counter read must not fail on that.
 */
export function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject);
  });
}

/** Where the bench is, on stderr (the table goes to stdout). */
const progress = (message: string) => process.stderr.write(`bench e2e: ${message}\n`);

function describeOps(ops: Record<string, number>, webhooks: number): string {
  return Object.entries(ops)
    .map(([op, n]) => `${op} ${perWebhook(n, webhooks)}`)
    .join(', ');
}
