/** `makini-webhooks simulate`: play a realistic Makini stream and summarise it. */
import type { Command } from 'commander';
import { createSignatureScheme, type SignatureScheme } from '../../../lambdas/core/signature';
import { buildStream, DEFAULT_SIMULATED_CONNECTIONS, simulate, type SimulateOptions } from '../../../local/simulator';
import { progressBar } from '../progress';
import { addProgressOption, addSigningOptions, noExtraArguments, parseUrl, requireSecret, signingConfig, subcommand, UsageError, type CommandContext, type SigningOptions } from '../shared';

interface SimulateCliOptions extends SigningOptions {
  url: string;
  connections?: string;
  events?: string;
  duplicates?: string;
  shuffle?: boolean;
  rate?: string;
  concurrency?: string;
  timeScale?: string;
  seed?: string;
  lifecycle?: boolean;
  json?: boolean;
  progress: boolean;
}

export function register(program: Command, { io, exit }: CommandContext): void {
  const command = subcommand(program, 'simulate', 'play a realistic Makini stream (duplicates, disorder, retries) and summarise it')
    .usage('--url URL [options]')
    .description(
      [
        "Plays a Makini stream: N connections x M events, some delivered twice, optionally shuffled, each retried on any non-200 with Makini's backoff (30 s doubling, for 24 h) scaled by --time-scale. The events are Makini's notifications, each connection's posted to <url>/<connection>; with --lifecycle, sync and status events posted to <url>.",
        'Prints: sent, acknowledged, retried, failed, and latency percentiles. Exits 1 if any failed. On a terminal, a progress bar on standard error counts the requests sent.',
      ].join('\n\n'),
    )
    // Commander refuses a missing --url itself (exit 2), and the generated synopsis shows it as required.
    .requiredOption('--url <URL>', "the receiver's webhook URL");
  addProgressOption(
    addSigningOptions(command)
      .option('--connections <N>', `connections (default: ${DEFAULT_SIMULATED_CONNECTIONS})`)
      .option('--events <M>', 'events per connection (default: 10)')
      .option('--duplicates <P>', 'share of deliveries sent twice, 0 to 1 (default: 0.1)')
      .option('--shuffle', 'deliver out of order')
      .option('--rate <R>', 'deliveries started per second (default: as fast as --concurrency allows)')
      .option('--concurrency <C>', 'requests in flight (default: 16)')
      .option('--time-scale <S>', "multiplies Makini's retry delays (default: 0.001: 30 s becomes 30 ms)")
      .option('--seed <N>', 'the same seed plays the same stream (default: 1)')
      .option('--lifecycle', 'play lifecycle events instead of notifications')
      .option('--json', 'print the summary as JSON'),
  ).action(async (values: SimulateCliOptions, cmd: Command) => {
    noExtraArguments(cmd.args, { secret: true });
    const url = parseUrl(values.url).toString().replace(/\/$/, '');
    const number = (name: string, text: string | undefined, fallback: number, min: number, max: number, integer = true) => {
      const n = text === undefined ? fallback : Number(text);
      if (Number.isNaN(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`);
      return n;
    };
    const options: SimulateOptions = {
      url,
      format: values.lifecycle ? 'lifecycle' : 'makini',
      secret: requireSecret(values.secret),
      scheme: createSignatureScheme(signingConfig(values)),
      connections: number('connections', values.connections, DEFAULT_SIMULATED_CONNECTIONS, 1, 100_000),
      events: number('events', values.events, 10, 1, 100_000),
      duplicates: number('duplicates', values.duplicates, 0.1, 0, 1, false),
      shuffle: values.shuffle ?? false,
      rate: number('rate', values.rate, 0, 0, 100_000, false),
      concurrency: number('concurrency', values.concurrency, 16, 1, 1_000),
      timeScale: number('time-scale', values.timeScale, 0.001, 0, 1, false),
      seed: number('seed', values.seed, 1, 0, 2 ** 31),
    };
    const bar = progressBar(io, 'simulate', { enabled: values.progress });
    let result: Awaited<ReturnType<typeof simulate>>;
    try {
      result = await simulate(bar.enabled ? { ...options, scheme: countingScheme(options.scheme, buildStream(options).length, bar.update) } : options);
    } finally {
      bar.finish();
    }
    const pct = (p: number) => Math.round((result.latenciesMs[Math.min(result.latenciesMs.length - 1, Math.floor(result.latenciesMs.length * p))] ?? 0) * 10) / 10;
    const summary = { sent: result.sent, acknowledged: result.acknowledged, retried: result.retried, failed: result.failed, p50Ms: pct(0.5), p99Ms: pct(0.99) };
    io.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : `sent ${summary.sent}, acknowledged ${summary.acknowledged}, retried ${summary.retried}, failed ${summary.failed}; latency p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms\n`);
    exit(result.failed === 0 ? 0 : 1);
  });
}

/**
 * The scheme, counting the requests the simulator signs: it signs each one as it sends it, first
 * tries and retries alike (the bar is full once as many requests as deliveries have gone out; retries
 * beyond that are shown as the total count).
 */
function countingScheme(scheme: SignatureScheme, deliveries: number, update: (done: number, total?: number, note?: string) => void): SignatureScheme {
  let requests = 0;
  update(0, deliveries, 'requests');
  return {
    name: scheme.name,
    parse: (request, nowSeconds) => scheme.parse(request, nowSeconds),
    sign(body, secret, options) {
      requests++;
      update(Math.min(requests, deliveries), deliveries, requests > deliveries ? `requests (${requests} with retries)` : 'requests');
      return scheme.sign(body, secret, options);
    },
  };
}
