/**
 * Plays a realistic Makini webhook stream against a receiver, the way Makini delivers it: signed,
 * possibly duplicated and out of order, and retried on any non-200 with Makini's backoff (30 s,
 * doubling, for 24 h), time-scaled so a test or benchmark can run it in seconds.
 * Used by `makini-webhooks simulate` and as the load generator of `npm run bench`.
 */
import type { MakiniEventType } from '../lambdas/core/event-types';
import type { SignatureScheme } from '../lambdas/core/signature';
import { NOTIFICATION_EVENTS, sampleEvent, sampleNotification } from './sample-events';

/**
 * `makini`: Makini's documented notifications (`{"event", "body": [ids]}`), each connection's posted
 * to its own URL, `<url>/<connection>`. `lifecycle`: the richer sync and status events, with id,
 * time and connection in the body, posted to `<url>`.
 */
export type StreamFormat = 'makini' | 'lifecycle';

export interface SimulateOptions {
  /** The receiver's `/webhooks` URL. */
  readonly url: string;
  /** @default 'makini' */
  readonly format?: StreamFormat;
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
  /** `makini` format: records each notification names (about 39 bytes each). @default 1 to 3, at random */
  readonly recordsPerNotification?: number;
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
  /** Webhook ids the receiver acknowledged (its answer's `webhookId`), for checking that each was processed. */
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

/** One delivery: `path` is appended to the URL (a per-connection URL's connection). */
export interface StreamEntry {
  readonly id: string;
  readonly body: string;
  readonly path?: string;
}

/**
 * The stream: Makini notifications naming random records (and, for some connections, a
 * `connections.updated` naming the connection), or with `format: 'lifecycle'` a realistic mix of
 * status and sync events one minute apart per connection.
 */
export function buildStream(options: Pick<SimulateOptions, 'connections' | 'events' | 'duplicates' | 'shuffle' | 'seed' | 'format' | 'recordsPerNotification'>): StreamEntry[] {
  const rnd = random(options.seed);
  const stream: StreamEntry[] = options.format === 'lifecycle' ? lifecycleStream(options, rnd) : notificationStream(options, rnd);
  if (options.shuffle) {
    for (let i = stream.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [stream[i], stream[j]] = [stream[j], stream[i]];
    }
  }
  return stream;
}

/** Connections a simulated stream sends for by default, and their ids (the local stack's Makini simulator has the same). */
export const DEFAULT_SIMULATED_CONNECTIONS = 10;
export const simulatedConnectionId = (c: number): string => `conn_sim_${c}`;

function notificationStream(options: Pick<SimulateOptions, 'connections' | 'events' | 'duplicates' | 'seed' | 'recordsPerNotification'>, rnd: () => number): StreamEntry[] {
  const entities = NOTIFICATION_EVENTS.filter((e) => !e.startsWith('connections.'));
  const uuid = () => Array.from({ length: 16 }, () => Math.floor(rnd() * 256).toString(16).padStart(2, '0')).join('').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
  const stream: StreamEntry[] = [];
  for (let c = 0; c < options.connections; c++) {
    const connectionId = simulatedConnectionId(c);
    for (let e = 0; e < options.events; e++) {
      // At most one status notification per connection: two would be byte-identical, and copies
      // that close together are one event by design (content-dedup.ts).
      const notification =
        e === 0 && rnd() < 0.5 ? sampleNotification('connections.updated', [connectionId]) : sampleNotification(entities[Math.floor(rnd() * entities.length)], Array.from({ length: options.recordsPerNotification ?? 1 + Math.floor(rnd() * 3) }, uuid));
      const entry = { id: `sim_${options.seed}_${c}_${e}`, body: JSON.stringify(notification), path: connectionId };
      stream.push(entry);
      if (rnd() < options.duplicates) stream.push(entry);
    }
  }
  return stream;
}

function lifecycleStream(options: Pick<SimulateOptions, 'connections' | 'events' | 'duplicates' | 'seed'>, rnd: () => number): StreamEntry[] {
  const types: MakiniEventType[] = ['sync.completed', 'connection.status_changed', 'sync.failed', 'connection.status_changed', 'sync.completed', 'connection.reauthorization_required', 'system.error'];
  const start = Date.UTC(2026, 0, 1);
  const stream: StreamEntry[] = [];
  for (let c = 0; c < options.connections; c++) {
    for (let e = 0; e < options.events; e++) {
      const type = types[Math.floor(rnd() * types.length)];
      const event = sampleEvent(type, { id: `sim_${options.seed}_${c}_${e}`, connectionId: simulatedConnectionId(c), timestamp: new Date(start + (c * options.events + e) * 60_000).toISOString() });
      const body = JSON.stringify(type === 'connection.status_changed' ? { ...event, data: { ...event.data, status: rnd() < 0.5 ? 'online' : 'offline' } } : event);
      stream.push({ id: event.id, body });
      if (rnd() < options.duplicates) stream.push({ id: event.id, body });
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

  const deliver = async ({ id, body, path }: StreamEntry) => {
    const bytes = Buffer.from(body);
    const url = path === undefined ? options.url : `${options.url}/${encodeURIComponent(path)}`;
    const firstTry = Date.now();
    for (let attempt = 1; ; attempt++) {
      const t0 = performance.now();
      let ok = false;
      try {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...options.scheme.sign(bytes, options.secret, { id }) }, body: bytes, signal: AbortSignal.timeout(10_000) });
        const answer = await response.text();
        ok = response.status === 200;
        if (ok) acknowledgedIds.add((JSON.parse(answer) as { webhookId: string }).webhookId);
      } catch {
        // a timeout or a refused connection is a failed delivery, as for Makini
      }
      if (ok) {
        latencies.push(performance.now() - t0);
        acknowledged++;
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
