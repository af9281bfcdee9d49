/**
 * Plays a realistic Makini webhook stream against a receiver, the way Makini delivers it: signed,
 * possibly duplicated and out of order, and retried on any non-200 with Makini's backoff (30 s,
 * doubling, for 24 h), time-scaled so a test or benchmark can run it in seconds.
 * Used by `makini-webhooks simulate` and as the load generator of `npm run bench`.
 */
import type { MakiniEventType } from '../lambdas/core/event-types';
import type { SignatureScheme } from '../lambdas/core/signature';
import { sampleEvent } from './sample-events';

export interface SimulateOptions {
  readonly url: string;
  readonly secret: string;
  readonly scheme: SignatureScheme;
  /** Distinct connections. */
  readonly connections: number;
  /** Events per connection. */
  readonly events: number;
  /** Share of deliveries sent a second time (0 to 1). */
  readonly duplicates: number;
  /** Deliver in random order rather than in event-time order. */
  readonly shuffle: boolean;
  /** Deliveries started per second; 0 for as fast as `concurrency` allows. */
  readonly rate: number;
  readonly concurrency: number;
  /** Multiplies Makini's retry delays (30 s, doubling, up to 24 h): 0.001 turns 30 s into 30 ms. */
  readonly timeScale: number;
  readonly seed: number;
}

export interface SimulateResult {
  /** Webhooks in the stream, duplicates included. */
  readonly sent: number;
  readonly acknowledged: number;
  /** Deliveries that needed at least one retry. */
  readonly retried: number;
  /** Deliveries still not acknowledged when Makini's 24 h (scaled) ran out. */
  readonly failed: number;
  /** Milliseconds per successful request, sorted. */
  readonly latenciesMs: readonly number[];
  /** Webhook ids acknowledged, for checking that each was processed. */
  readonly acknowledgedIds: ReadonlySet<string>;
}

const FIRST_RETRY_MS = 30_000;
const RETRY_WINDOW_MS = 24 * 3_600_000;

/** A small seeded generator (mulberry32): the same seed plays the same stream. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The stream: per connection, a realistic mix of status and sync events, one minute apart. */
export function buildStream(options: Pick<SimulateOptions, 'connections' | 'events' | 'duplicates' | 'shuffle' | 'seed'>): { id: string; body: string }[] {
  const rnd = random(options.seed);
  const types: MakiniEventType[] = ['sync.completed', 'connection.status_changed', 'sync.failed', 'connection.status_changed', 'sync.completed', 'connection.reauthorization_required', 'system.error'];
  const start = Date.UTC(2026, 0, 1);
  const stream: { id: string; body: string }[] = [];
  for (let c = 0; c < options.connections; c++) {
    for (let e = 0; e < options.events; e++) {
      const type = types[Math.floor(rnd() * types.length)];
      const event = sampleEvent(type, { id: `sim_${options.seed}_${c}_${e}`, connectionId: `conn_sim_${c}`, timestamp: new Date(start + (c * options.events + e) * 60_000).toISOString() });
      const body = JSON.stringify(type === 'connection.status_changed' ? { ...event, data: { ...event.data, status: rnd() < 0.5 ? 'online' : 'offline' } } : event);
      stream.push({ id: event.id, body });
      if (rnd() < options.duplicates) stream.push({ id: event.id, body });
    }
  }
  if (options.shuffle) {
    for (let i = stream.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [stream[i], stream[j]] = [stream[j], stream[i]];
    }
  }
  return stream;
}

/**
 * @example
 * const result = await simulate({ url, secret, scheme, connections: 10, events: 20, duplicates: 0.1, shuffle: true, rate: 0, concurrency: 16, timeScale: 0.001, seed: 1 });
 */
export async function simulate(options: SimulateOptions): Promise<SimulateResult> {
  const stream = buildStream(options);
  const latencies: number[] = [];
  const acknowledgedIds = new Set<string>();
  let acknowledged = 0;
  let retried = 0;
  let failed = 0;
  let next = 0;
  const started = Date.now();

  const deliver = async ({ id, body }: { id: string; body: string }) => {
    const bytes = Buffer.from(body);
    const firstTry = Date.now();
    for (let attempt = 1; ; attempt++) {
      const t0 = performance.now();
      let ok = false;
      try {
        const response = await fetch(options.url, { method: 'POST', headers: { 'content-type': 'application/json', ...options.scheme.sign(bytes, options.secret, { id }) }, body: bytes, signal: AbortSignal.timeout(10_000) });
        await response.arrayBuffer();
        ok = response.status === 200;
      } catch {
        // a timeout or a refused connection is a failed delivery, as for Makini
      }
      if (ok) {
        latencies.push(performance.now() - t0);
        acknowledged++;
        acknowledgedIds.add(id);
        if (attempt > 1) retried++;
        return;
      }
      const delay = FIRST_RETRY_MS * 2 ** (attempt - 1) * options.timeScale;
      if (Date.now() - firstTry + delay > RETRY_WINDOW_MS * options.timeScale) {
        failed++;
        if (attempt > 1) retried++;
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  };

  const worker = async () => {
    while (next < stream.length) {
      const i = next++;
      if (options.rate > 0) {
        const due = started + (i * 1000) / options.rate;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
      await deliver(stream[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return { sent: stream.length, acknowledged, retried, failed, latenciesMs: latencies.sort((a, b) => a - b), acknowledgedIds };
}
