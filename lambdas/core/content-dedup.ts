/**
 * Deduplication by content, for webhooks whose signed content carries no id (Makini's
 * notifications carry none).
 *
 * Two genuine updates of one record produce byte-identical notifications, so identical bytes cannot
 * mean "the same webhook" for days. They mean "a retry" only within a window: the copies of one
 * event are those received within `contentDedupWindowMinutes` of its first copy. Each event is a
 * generation of its content key, named after the time its first copy was received:
 * `sha256:<hash>@<ISO time>`. The store keeps, per content key, the start of the latest generation.
 */

export type GenerationDecision =
  /** Within the window of the latest generation: a further delivery of that event. */
  | { readonly kind: 'join'; readonly start: string }
  /** Past the window (or the first copy seen): this copy starts a new generation. */
  | { readonly kind: 'start' }
  /** Received long before the latest generation began: an event of its own, not the latest. */
  | { readonly kind: 'earlier' };

/**
 * Where a copy received at `receivedAt` belongs, given the start of the latest generation.
 * A copy received up to one window *before* that start joins it too: the later copy was simply
 * processed first.
 *
 * @example
 * contentGeneration('2026-12-01T10:05:00.000Z', '2026-12-01T10:00:00.000Z', 15 * 60_000); // { kind: 'join', start: '2026-12-01T10:00:00.000Z' }
 */
export function contentGeneration(receivedAt: string, latestStart: string | undefined, windowMs: number): GenerationDecision {
  if (latestStart === undefined) return { kind: 'start' };
  const distance = Date.parse(receivedAt) - Date.parse(latestStart);
  if (distance >= windowMs) return { kind: 'start' };
  if (distance <= -windowMs) return { kind: 'earlier' };
  return { kind: 'join', start: latestStart };
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
