/**
 * `npm run bench -- hot` (issue 17, "a hot connection"): 20,000 webhooks for ONE connection in a
 * burst through the local stack (`npm start` as a child process), beside the same 20,000 spread over
 * 200 connections, in the same run, with the same 64 concurrent senders.
 *
 * - throughput: acknowledged/s (first send to last acknowledgment) and processed/s (first send to an
 *   empty queue), hot against spread; target: hot ≥ half of spread;
 * - correctness: acknowledged − processed = 0, none processed twice, and every connection's stored
 *   state is the model's (test/support/connection-model.ts): the status, sync and last event of the
 *   events with the greatest (occurredAt, id).
 * - why: DynamoDB calls per webhook (the GetItems and PutItems are the connection state's
 *   read-modify-writes, one per connection per batch when coalescing works, plus one of each per
 *   lost optimistic-concurrency write), and records whose state update failed (the consumer's warnings).
 */
import { resolveConfig } from '../lambdas/config/config';
import { createSignatureScheme } from '../lambdas/core/signature';
import { buildStream, simulate, type SimulateOptions } from '../local/simulator';
import { LOCAL_CALLS_PATH } from '../local/stack';
import { expectedStates, NO_POLLS, stateMismatches } from '../test/support/final-states';
import { queueDepth, startStackProcess, waitFor } from '../test/support/local-stack-process';
import { delta, getJson, processedIds, type Snapshot } from './end-to-end';
import { round, type Row } from './rows';

const TOTAL = 20_000;
const SENDERS = 64;

interface Case {
  readonly name: 'hot' | 'spread';
  readonly connections: number;
  readonly seed: number;
}

interface CaseResult {
  readonly acknowledgedPerSecond: number;
  readonly processedPerSecond: number;
  readonly acknowledged: number;
  readonly failedSends: number;
  readonly getItem: number;
  readonly putItem: number;
  readonly stateUpdateFailures: number;
  readonly consumerInvocations: number;
}

export async function hotConnection(rows: Row[]): Promise<void> {
  // WARN: the stack's one line per processed webhook would be most of its work otherwise; failed
  // records are still logged (at WARN), and counted below.
  const stack = await startStackProcess({ env: { MAKINI_LOG_LEVEL: 'WARN', ...NO_POLLS } });
  try {
    const callsUrl = `${new URL(stack.info.webhookUrl).origin}${LOCAL_CALLS_PATH}`;
    const calls = () => getJson(callsUrl) as Promise<Snapshot>;
    const options = (c: Pick<Case, 'connections' | 'seed'>): SimulateOptions => ({
      url: stack.info.webhookUrl,
      secret: stack.secret,
      scheme: createSignatureScheme(resolveConfig()),
      format: 'lifecycle',
      connections: c.connections,
      events: TOTAL / c.connections,
      duplicates: 0,
      shuffle: true,
      rate: 0,
      concurrency: SENDERS,
      timeScale: 0.001,
      seed: c.seed,
    });
    const drained = () => waitFor(async () => (await queueDepth(stack)) === 0, 900_000, () => 'the consumer to drain');
    const acknowledged = new Set<string>();
    const streams = [] as ReturnType<typeof buildStream>[];

    // Warm-up: every Lambda's first call, the secret cached, SDK connections open.
    const warmUp = { ...options({ connections: 10, seed: 100 }), events: 5, concurrency: 8 };
    const warm = await simulate(warmUp);
    warm.acknowledgedIds.forEach((id) => acknowledged.add(id));
    streams.push(buildStream(warmUp));
    await drained();

    const results = new Map<Case['name'], CaseResult>();
    for (const c of [{ name: 'spread', connections: 200, seed: 21 }, { name: 'hot', connections: 1, seed: 22 }] as const) {
      const before = await calls();
      const outputBefore = stack.output().length;
      const t0 = performance.now();
      const run = await simulate(options(c));
      const sendSeconds = (performance.now() - t0) / 1000;
      await drained();
      const totalSeconds = (performance.now() - t0) / 1000;
      const after = await calls();
      run.acknowledgedIds.forEach((id) => acknowledged.add(id));
      streams.push(buildStream(options(c)));
      const ddb = delta(after, before).dynamodb;
      results.set(c.name, {
        acknowledgedPerSecond: run.acknowledged / sendSeconds,
        processedPerSecond: run.acknowledged / totalSeconds,
        acknowledged: run.acknowledged,
        failedSends: run.failed,
        getItem: ddb.GetItem ?? 0,
        putItem: ddb.PutItem ?? 0,
        stateUpdateFailures: (stack.output().slice(outputBefore).match(/state update failed/g) ?? []).length,
        consumerInvocations: (after.lambda.consumer?.invocations ?? 0) - (before.lambda.consumer?.invocations ?? 0),
      });
      progress(`${c.name}: ${run.acknowledged} acknowledged in ${round(sendSeconds)} s, drained ${round(totalSeconds - sendSeconds)} s later`);
    }

    const hot = results.get('hot')!;
    const spread = results.get('spread')!;
    const describe = (r: CaseResult) =>
      `${round(r.acknowledgedPerSecond)} acknowledged/s; per webhook ${round(r.getItem / r.acknowledged, 3)} GetItem, ${round(r.putItem / r.acknowledged, 3)} PutItem; ${r.consumerInvocations} consumer invocations; ${r.stateUpdateFailures} state updates failed and retried by SQS`;
    const ratio = hot.processedPerSecond / spread.processedPerSecond;
    rows.push({
      metric: `hot connection: ${TOTAL.toLocaleString('en')} webhooks for one connection, processed/s (first send to empty queue, ${SENDERS} senders)`,
      value: round(hot.processedPerSecond),
      unit: '/s',
      target: 'hot ≥ half of the 200-connection throughput',
      baseline: `same run, ${TOTAL.toLocaleString('en')} over 200 connections: ${round(spread.processedPerSecond)}/s processed (hot ×${round(ratio, 2)}). Hot: ${describe(hot)}. Spread: ${describe(spread)}`,
      met: ratio >= 0.5,
    });
    rows.push({
      metric: `hot connection: acknowledged/s (${SENDERS} senders)`,
      value: round(hot.acknowledgedPerSecond),
      unit: '/s',
      target: 'hot ≥ half of the 200-connection throughput',
      baseline: `same run, 200 connections: ${round(spread.acknowledgedPerSecond)}/s (hot ×${round(hot.acknowledgedPerSecond / spread.acknowledgedPerSecond, 2)})`,
      met: hot.acknowledgedPerSecond >= 0.5 * spread.acknowledgedPerSecond,
    });

    const processed = processedIds(stack);
    const lost = [...acknowledged].filter((id) => !processed.has(id)).length;
    const twice = [...processed.values()].filter((n) => n > 1).length;
    const expected = expectedStates(streams.flat());
    const mismatches = await stateMismatches(expected, stack.info.endpoints.dynamodb, stack.info.tableName);
    const failedSends = hot.failedSends + spread.failedSends;
    rows.push({
      metric: 'hot connection: acknowledged − processed, and final states (both runs and the warm-up)',
      value: lost,
      unit: 'webhooks',
      target: '0 lost, state of the newest event',
      baseline: `${acknowledged.size.toLocaleString('en')} acknowledged, ${processed.size.toLocaleString('en')} processed, ${twice} twice, ${failedSends} never acknowledged; ${expected.size - mismatches.length} of ${expected.size} connections in the model's state${mismatches.length > 0 ? ` (first mismatch ${JSON.stringify(mismatches[0])})` : ''}`,
      met: lost === 0 && twice === 0 && failedSends === 0 && mismatches.length === 0,
    });
  } catch (error) {
    process.stderr.write(`bench hot: the local stack printed:\n${stack.output().slice(-3000)}\n`);
    throw error;
  } finally {
    await stack.stop();
  }
}

/** Where the bench is, on stderr (the table goes to stdout). */
const progress = (message: string) => process.stderr.write(`bench hot: ${message}\n`);
