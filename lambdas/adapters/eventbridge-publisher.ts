import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { BUS_SOURCE, busDetail, busDetailType, type BusMessage } from '../core/consume';
/** EventBridge takes at most 10 entries per PutEvents call. */
const MAX_ENTRIES = 10;
/** EventBridge rejects calls whose entries exceed 256 KB together; keep a margin. */
const MAX_CALL_BYTES = 240 * 1024;

export interface EventPublisher {
  /** Publishes the messages; returns, per message, whether the bus accepted it. */
  publish(messages: readonly BusMessage[]): Promise<boolean[]>;
}

/**
 * Publishes processed events to the custom bus, as few PutEvents calls as the limits allow:
 * `detail-type` is the event type, `detail` the normalised event plus the connection state (for a
 * body in the body store, the pointer and the body's size instead of its fields: `busDetail`).
 *
 * @example
 * const accepted = await new EventBridgePublisher(new EventBridgeClient({}), busName).publish(messages);
 */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(messages: readonly BusMessage[]): Promise<boolean[]> {
    const entries = messages.map((m) => toEntry(m, this.busName));
    const accepted = new Array<boolean>(messages.length).fill(false);
    for (const chunk of chunks(entries)) {
      try {
        const result = await this.client.send(new PutEventsCommand({ Entries: chunk.map((c) => c.entry) }));
        chunk.forEach((c, i) => (accepted[c.index] = !result.Entries?.[i]?.ErrorCode));
      } catch {
        // The whole call failed: its records stay unpublished and are retried through SQS.
      }
    }
    return accepted;
  }
}

function toEntry(message: BusMessage, busName: string): PutEventsRequestEntry {
  let detail = JSON.stringify(busDetail(message));
  if (Buffer.byteLength(detail) > MAX_CALL_BYTES) {
    // Too large for the bus: publish without `data`; the full event stays in the history table.
    detail = JSON.stringify({ ...message, event: { ...message.event, data: {} }, dataOmitted: true });
  }
  if (Buffer.byteLength(detail) > MAX_CALL_BYTES) {
    // Still too large: ids that grew as strings, in a message queued before the receiver sent such
    // bodies through the body store (travelsAsPointer). EventBridge would refuse it on every try, so
    // it goes without its ids, marked; `events` shows them from the history.
    const { ids: _ids, ...event } = message.event;
    detail = JSON.stringify({ ...message, event: { ...event, data: {} }, dataOmitted: true, idsOmitted: true });
  }
  return { EventBusName: busName, Source: BUS_SOURCE, DetailType: busDetailType(message.event.type), Detail: detail, Time: new Date(message.event.occurredAt) };
}

function* chunks(entries: PutEventsRequestEntry[]): Generator<{ index: number; entry: PutEventsRequestEntry }[]> {
  let chunk: { index: number; entry: PutEventsRequestEntry }[] = [];
  let bytes = 0;
  for (const [index, entry] of entries.entries()) {
    const size = Buffer.byteLength(entry.Detail ?? '') + Buffer.byteLength(entry.DetailType ?? '') + BUS_SOURCE.length;
    if (chunk.length === MAX_ENTRIES || (chunk.length > 0 && bytes + size > MAX_CALL_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push({ index, entry });
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
