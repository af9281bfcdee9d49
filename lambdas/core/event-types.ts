/**
 * The event types Makini documents. Makini adds types without warning, so code must keep and
 * forward any other type unchanged; this list is what we know how to interpret.
 */
export const MAKINI_EVENT_TYPES = [
  'sync.completed',
  'sync.failed',
  'connection.reauthorization_required',
  'connection.status_changed',
  'system.error',
] as const;

export type MakiniEventType = (typeof MAKINI_EVENT_TYPES)[number];

export function isKnownEventType(type: string): type is MakiniEventType {
  return (MAKINI_EVENT_TYPES as readonly string[]).includes(type);
}
