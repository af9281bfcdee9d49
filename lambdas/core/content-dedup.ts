/**
 * Deduplication by content, for webhooks whose signed content carries no id (Makini's
 * notifications carry none).
 *
 * Two genuine updates of one record produce byte-identical notifications, so identical bytes cannot
 * mean "the same webhook" for days. They mean "a retry" only within a window: the copies of one
 * event are those received within `contentDedupWindowMinutes` of its first copy. Each event is a
 * generation of its content key, named after the time the copy that started it was received:
 * `sha256:<hash>@<ISO time>`. The store keeps, per content key, its recent generations.
 *
 * Copies are processed in whatever order the queue hands them over, not always in the order they
 * were received. A generation therefore also remembers `from`, the earliest receive time of any copy
 * it holds, and its window runs from there: a retry processed before the first copy it repeats does
 * not shift the window later and swallow a genuine update.
 */

/** One event of a content key: `start` names it, `from` is its earliest copy's receive time. */
export interface Generation {
  readonly start: string;
  readonly from: string;
}

/** Generations kept per content key; a copy of an older one is processed as a new event (never lost). */
export const MAX_GENERATIONS = 32;

export type GenerationDecision =
  /** A further delivery of that event; `extendFrom` when this copy was received before any other of it. */
  | { readonly kind: 'join'; readonly start: string; readonly extendFrom: boolean }
  /** No event of this key has a copy within the window of this one: it starts a new one. */
  | { readonly kind: 'start' };

/**
 * Where a copy received at `receivedAt` belongs, given the key's generations: the one whose window
 * `[from, from + window)` holds it (the latest, if several do); else the earliest one that begins
 * less than a window after it (the copy is its first, processed late); else a new one.
 *
 * @example
 * contentGeneration('2026-12-01T10:05:00.000Z', [{ start: '2026-12-01T10:00:00.000Z', from: '2026-12-01T10:00:00.000Z' }], 15 * 60_000);
 * // { kind: 'join', start: '2026-12-01T10:00:00.000Z', extendFrom: false }
 */
export function contentGeneration(receivedAt: string, generations: readonly Generation[], windowMs: number): GenerationDecision {
  const at = Date.parse(receivedAt);
  const byFrom = [...generations].sort((a, b) => Date.parse(a.from) - Date.parse(b.from));
  const holding = byFrom.filter((g) => Date.parse(g.from) <= at && at < Date.parse(g.from) + windowMs).at(-1);
  if (holding) return { kind: 'join', start: holding.start, extendFrom: false };
  const later = byFrom.find((g) => at < Date.parse(g.from) && Date.parse(g.from) - at < windowMs);
  if (later) return { kind: 'join', start: later.start, extendFrom: true };
  return { kind: 'start' };
}

/**
 * The generations after a decision: a new one added, or one's `from` moved back to this copy; the
 * newest {@link MAX_GENERATIONS} kept. `undefined` when nothing changes.
 */
export function nextGenerations(generations: readonly Generation[], decision: GenerationDecision, receivedAt: string): Generation[] | undefined {
  if (decision.kind === 'join' && !decision.extendFrom) return undefined;
  const next =
    decision.kind === 'start' ? [...generations, { start: receivedAt, from: receivedAt }] : generations.map((g) => (g.start === decision.start ? { ...g, from: receivedAt } : g));
  return next.sort((a, b) => Date.parse(a.start) - Date.parse(b.start)).slice(-MAX_GENERATIONS);
}

/**
 * The id of the event a content key's generation stands for.
 *
 * @example
 * contentEventId('sha256:9f…', '2026-12-01T10:00:00.000Z'); // 'sha256:9f…@2026-12-01T10:00:00.000Z'
 */
export function contentEventId(contentKey: string, start: string): string {
  return `${contentKey}@${start}`;
}
