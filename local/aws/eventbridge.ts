/**
 * A local EventBridge (AWS JSON 1.1) for development and tests: PutEvents appends each entry, as
 * the event AWS would deliver, to a JSON-lines log (`makini-webhooks bus` reads it). Rules, targets
 * and archives are not emulated; other operations are refused with AWS-style errors.
 * Reach it with AWS_ENDPOINT_URL_EVENTBRIDGE.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { readJsonLines } from '../json-lines';
import * as path from 'node:path';
import { AwsError, startJsonEndpoint, type Fault, type JsonEndpoint } from './json-endpoint';

/** An event as EventBridge hands it to targets. */
/** A bus named by its name or its ARN (`arn:aws:events:<region>:<account>:event-bus/<name>`), as PutEvents and rules accept both. */
export const busName = (nameOrArn: string): string => (nameOrArn.startsWith('arn:') ? nameOrArn.slice(nameOrArn.indexOf(':event-bus/') + ':event-bus/'.length) : nameOrArn);

export interface BusEvent {
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly time: string;
  readonly 'event-bus-name': string;
  readonly detail: unknown;
}

export interface LocalEventBridge extends JsonEndpoint {
  /** Every event put so far, oldest first. */
  events(): BusEvent[];
  /** Called for every event put, e.g. to print it. */
  onEvent?: (event: BusEvent) => void;
}

/** Reads a bus log written by the local EventBridge. */
export function readBusLog(file: string): BusEvent[] {
  return readJsonLines<BusEvent>(file);
}

/** What the entries of one PutEvents call may take together (256 KB). */
export const PUT_EVENTS_MAX_BYTES = 262_144;

/** A PutEvents entry's size as EventBridge calculates it (eb-putevent-size in its user guide). */
function entrySize(entry: Record<string, unknown>): number {
  const utf8 = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value) : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources.reduce((n: number, r) => n + utf8(r), 0) : 0;
  return (entry.Time !== undefined ? 14 : 0) + utf8(entry.Source) + utf8(entry.DetailType) + utf8(entry.Detail) + resources;
}

/** A PutEvents entry as the caller sent it. */
export interface PutEventsEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName?: string;
  readonly Time?: number;
}

export async function startLocalEventBridge(
  options: {
    log?: string;
    port?: number;
    /** Consulted on every call, with its operation: the fault in force, if any. */
    fault?: (operation: string) => Fault | undefined;
    authorize?: Parameters<typeof startJsonEndpoint>[0]['authorize'];
    /**
     * Consulted for every well-formed PutEvents entry: one for which it returns true is not put, and
     * is answered on its own with an error (InternalFailure) while the call's other entries are
     * accepted, as EventBridge answers an entry it failed to put (the caller must retry it).
     */
    rejectEntry?: (entry: PutEventsEntry) => boolean;
  } = {},
): Promise<LocalEventBridge> {
  const memory: BusEvent[] = [];
  let self: LocalEventBridge | undefined;
  if (options.log) mkdirSync(path.dirname(options.log), { recursive: true });
  const endpoint = await startJsonEndpoint({
    service: 'AWSEvents',
    protocol: '1.1',
    port: options.port,
    fault: options.fault,
    authorize: options.authorize,
    operations: {
      PutEvents(input) {
        const entries = (input.Entries as Record<string, unknown>[] | undefined) ?? [];
        if (entries.length === 0 || entries.length > 10) throw new AwsError('ValidationException', 'Entries must hold 1 to 10 entries.');
        // As AWS does: a field over its length limit fails the whole call, not one entry.
        if (entries.some((e) => typeof e.DetailType === 'string' && e.DetailType.length > 128)) {
          throw new AwsError('ValidationException', "1 validation error detected: Value at 'entries.member.detailType' failed to satisfy constraint: Member must have length less than or equal to 128");
        }
        // As AWS does: the entries of one call may take 256 KB together, each sized as EventBridge
        // documents it (Time 14 bytes, then Source, DetailType, Detail and each Resources entry as UTF-8).
        if (entries.reduce((bytes, e) => bytes + entrySize(e), 0) > PUT_EVENTS_MAX_BYTES) {
          throw new AwsError('ValidationException', 'Total size of the entries in the request is over the limit.');
        }
        const results = entries.map((entry) => {
          if (typeof entry.Source !== 'string' || typeof entry.DetailType !== 'string' || typeof entry.Detail !== 'string') {
            return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required.' };
          }
          let detail: unknown;
          try {
            detail = JSON.parse(entry.Detail);
          } catch {
            return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is not valid JSON.' };
          }
          if (options.rejectEntry?.(entry as unknown as PutEventsEntry)) return { ErrorCode: 'InternalFailure', ErrorMessage: 'Injected fault: the entry was not put.' };
          const event: BusEvent = {
            id: randomUUID(),
            'detail-type': entry.DetailType,
            source: entry.Source,
            time: entry.Time ? new Date(Number(entry.Time) * 1000).toISOString() : new Date().toISOString(),
            'event-bus-name': busName(String(entry.EventBusName ?? 'default')),
            detail,
          };
          memory.push(event);
          if (options.log) appendFileSync(options.log, `${JSON.stringify(event)}\n`);
          self?.onEvent?.(event);
          return { EventId: event.id };
        });
        return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
      },
    },
  });
  self = { ...endpoint, events: () => [...memory] };
  return self;
}
