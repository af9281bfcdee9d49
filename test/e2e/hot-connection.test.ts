import { readBusLog } from '../../local/aws/eventbridge';
import { resolveConfig } from '../../lambdas/config/config';
import { createSignatureScheme } from '../../lambdas/core/signature';
import { buildStream, simulate, simulatedConnectionId, type SimulateOptions } from '../../local/simulator';
import { expectedStates, NO_POLLS, stateMismatches } from '../support/final-states';
import { queueDepth, startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';

// A copy that arrives while its twin is being processed is `busy`, and SQS gives it back only after
// the visibility timeout, 6 x the consumer's timeout: 10 s here (60 s of visibility, not 3 minutes).
jest.setTimeout(600_000);
const CONSUMER_TIMEOUT = { MAKINI_CONSUMER_TIMEOUT_SECONDS: '10' };

let stack: StackProcess | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** Every webhook id on the bus, with how many times it was published. */
function published(s: StackProcess): Map<string, number> {
  const seen = new Map<string, number>();
  for (const event of readBusLog(s.info.busLog)) {
    const id = (event.detail as { event?: { webhookId?: string } }).event?.webhookId;
    if (id) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  return seen;
}

describe('a hot connection through the local stack (child process, loopback only)', () => {
  it('2,000 webhooks for one connection, shuffled, a tenth sent twice: none lost, none processed twice, the state of the newest events', async () => {
    stack = await startStackProcess({ env: { MAKINI_LOG_LEVEL: 'WARN', ...NO_POLLS, ...CONSUMER_TIMEOUT } });
    const options: SimulateOptions = {
      url: stack.info.webhookUrl,
      secret: stack.secret,
      scheme: createSignatureScheme(resolveConfig()),
      format: 'lifecycle',
      connections: 1,
      events: 2_000,
      duplicates: 0.1,
      shuffle: true,
      rate: 0,
      concurrency: 16,
      timeScale: 0.001,
      seed: 17,
    };
    const stream = buildStream(options);
    const distinct = new Set(stream.map((e) => e.id));

    const result = await simulate(options);
    await waitFor(async () => (await queueDepth(stack!)) === 0 && [...distinct].every((id) => published(stack!).has(id)), 540_000, () => 'every webhook on the bus');

    expect(result.failed).toBe(0);
    expect(result.acknowledged).toBe(stream.length);
    expect(stream.length).toBeGreaterThan(distinct.size); // duplicates were sent
    expect(result.acknowledgedIds).toEqual(distinct);
    const bus = published(stack);
    expect([...bus.keys()].sort()).toEqual([...distinct].sort());
    expect([...bus.values()].filter((n) => n > 1)).toEqual([]);
    const expected = expectedStates(stream);
    expect([...expected.keys()]).toEqual([simulatedConnectionId(0)]);
    expect(await stateMismatches(expected, stack.info.endpoints.dynamodb, stack.info.tableName)).toEqual([]);
  });
});
