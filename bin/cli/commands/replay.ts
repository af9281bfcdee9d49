/** `makini-webhooks replay`: publish stored events to the bus again (state is not touched). */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Command } from 'commander';
import { configFromEnv } from '../../../lambdas/config/config';
import { EventBridgePublisher } from '../../../lambdas/adapters/eventbridge-publisher';
import type { BusMessage } from '../../../lambdas/core/consume';
import { parseEventTime } from '../../../lambdas/core/event-time';
import { progressBar } from '../progress';
import { addJsonOption, addProgressOption, addTargetOptions, json, noExtraArguments, resolveTarget, storedEvent, storeFor, subcommand, UsageError, type CommandContext, type Target, type TargetOptions } from '../shared';

/** Messages per publish call: one PutEvents call's worth, so the bar moves as the bus answers. */
const BATCH = 10;

interface ReplayOptions extends TargetOptions {
  connection?: string;
  since?: string;
  json?: boolean;
  progress: boolean;
}

export function register(program: Command, { io, exit }: CommandContext): void {
  addProgressOption(
    addTargetOptions(
      addJsonOption(
        subcommand(program, 'replay', 'publish stored events to the bus again (state is not touched)')
          .argument('[webhookId]', 'the stored webhook to publish again')
          .usage('<webhookId> [--stack NAME | --local-dir D]\n       makini-webhooks replay --connection C --since ISO [--stack NAME | --local-dir D]')
          .description('Publishes stored events to the bus again, with the connection\'s current state. State is not re-applied and no transition is sent, so notifications do not fire twice.')
          .option('--connection <C>', "the connection whose events to publish again (with --since)")
          .option('--since <ISO>', 'with --connection: events that happened at or after this time'),
        'print the outcome as one JSON object: {eventBusName, replayed, rejected}, and bodyMissing when some stored bodies are gone',
      ),
    ),
  ).action(async (webhookId: string | undefined, values: ReplayOptions, cmd: Command) => {
    noExtraArguments(cmd.args.slice(1));
    if (values.since !== undefined && values.connection === undefined) throw new UsageError('--since goes with --connection C: a webhook id is replayed on its own');
    const target = await resolveTarget(values);
    if ((webhookId === undefined) === (values.connection === undefined)) throw new UsageError('replay takes a webhook id, or --connection C --since ISO');
    if (values.connection !== undefined && (values.since === undefined || parseEventTime(values.since) === undefined)) throw new UsageError('--since must be an ISO-8601 time');
    const since = values.since === undefined ? undefined : parseEventTime(values.since);
    const bar = progressBar(io, 'replay', { enabled: values.progress });
    try {
      const { replayed, rejected, bodyMissing } = await replayEvents(target, webhookId !== undefined ? { webhookId } : { connection: values.connection!, since: since! }, (done, total, label) => bar.update(done, total, label));
      bar.finish();
      io.stdout.write(
        values.json
          ? json({ eventBusName: target.eventBusName, replayed, rejected, ...(bodyMissing > 0 && { bodyMissing }) })
          : `replayed ${replayed} event(s) to ${target.eventBusName}${rejected ? `; ${rejected} rejected by the bus` : ''}${bodyMissing ? `; ${bodyMissing} not replayed: their stored body is gone (expired)` : ''}\n`,
      );
      exit(rejected === 0 && bodyMissing === 0 ? 0 : 1);
    } finally {
      bar.finish();
    }
  });
}

/** What to replay: one stored webhook, or a connection's events from `since` (up to `until`, both event times). */
export type ReplaySelection = { webhookId: string } | { connection: string; since: string; until?: string };

/**
 * Publishes stored events to the bus again with their connection's current state (`replay`, the
 * console's replay view). Unprocessable or unfinished events are skipped: nothing was published for them.
 */
export async function replayEvents(target: Target, selection: ReplaySelection, progress: (done: number, total: number, label: string) => void = () => undefined): Promise<{ replayed: number; rejected: number; bodyMissing: number }> {
  const { store, withBodies, close } = storeFor(target);
  const bus = new EventBridgeClient(target.client('eventBridge'));
  try {
    const stored = await withBodies(
      'webhookId' in selection
        ? [await store.getWebhook(selection.webhookId)].filter((w) => w !== undefined)
        : // Every event of the range, oldest first, however many newer ones there are (it read the newest 10,000 until 2026-12-03).
          (await store.listEvents(selection.connection, Number.POSITIVE_INFINITY, { since: selection.since, ...(selection.until !== undefined && { until: selection.until }) }))
            .filter((w) => (w.occurredAt ?? '') >= selection.since && (selection.until === undefined || (w.occurredAt ?? '') <= selection.until))
            .reverse(),
    );
    if ('webhookId' in selection && stored.length === 0) throw new UsageError(`no stored webhook ${selection.webhookId}`);
    const messages: BusMessage[] = [];
    let bodyMissing = 0;
    for (const [i, w] of stored.entries()) {
      progress(i, stored.length, 'read');
      if (w.status !== 'DONE' || w.unprocessableReason !== undefined) continue; // unprocessable or unfinished: nothing was published for it
      if (w.bodyMissing) {
        bodyMissing++;
        continue;
      }
      const event = storedEvent(w, configFromEnv(process.env));
      if (!event) continue;
      const state = event.connectionId === undefined ? undefined : ((await store.getConnection(event.connectionId)) ?? { connectionId: event.connectionId, status: 'unknown' as const });
      // A body in the body bucket is replayed as the consumer published it: its pointer and size.
      const bodyRef = w.bodyRef && target.bodyBucket !== undefined ? { bodyRef: { bucket: target.bodyBucket, ...w.bodyRef } } : {};
      messages.push({ event, ...(state && { state }), stale: w.stale ?? false, ...bodyRef });
    }
    const publisher = new EventBridgePublisher(bus, target.eventBusName);
    let rejected = 0;
    for (let i = 0; i < messages.length; i += BATCH) {
      progress(i, messages.length, 'published');
      rejected += (await publisher.publish(messages.slice(i, i + BATCH))).filter((accepted) => !accepted).length;
    }
    return { replayed: messages.length - rejected, rejected, bodyMissing };
  } finally {
    close();
    bus.destroy();
  }
}
