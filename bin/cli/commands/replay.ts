/** `makini-webhooks replay`: publish stored events to the bus again (state is not touched). */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Command } from 'commander';
import { configFromEnv } from '../../../lambdas/config/config';
import { EventBridgePublisher } from '../../../lambdas/adapters/eventbridge-publisher';
import type { BusMessage } from '../../../lambdas/core/consume';
import { parseEventTime } from '../../../lambdas/core/event-time';
import { progressBar } from '../progress';
import { addJsonOption, addProgressOption, addTargetOptions, json, noExtraArguments, resolveTarget, storedEvent, storeFor, subcommand, UsageError, type CommandContext, type TargetOptions } from '../shared';

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
        'print the outcome as one JSON object: {eventBusName, replayed, rejected}',
      ),
    ),
  ).action(async (webhookId: string | undefined, values: ReplayOptions, cmd: Command) => {
    noExtraArguments(cmd.args.slice(1));
    const target = await resolveTarget(values);
    if ((webhookId === undefined) === (values.connection === undefined)) throw new UsageError('replay takes a webhook id, or --connection C --since ISO');
    if (values.connection !== undefined && (values.since === undefined || parseEventTime(values.since) === undefined)) throw new UsageError('--since must be an ISO-8601 time');
    const { store, close } = storeFor(target);
    const bus = new EventBridgeClient(target.client('eventBridge'));
    const bar = progressBar(io, 'replay', { enabled: values.progress });
    try {
      const since = values.since === undefined ? undefined : parseEventTime(values.since);
      const stored = webhookId !== undefined ? [await store.getWebhook(webhookId)].filter((w) => w !== undefined) : (await store.listEvents(values.connection!, 10_000)).filter((w) => (w.occurredAt ?? '') >= since!).reverse();
      if (webhookId !== undefined && stored.length === 0) throw new UsageError(`no stored webhook ${webhookId}`);
      const messages: BusMessage[] = [];
      for (const [i, w] of stored.entries()) {
        bar.update(i, stored.length, 'read');
        if (w.status !== 'DONE' || w.unprocessableReason !== undefined) continue; // unprocessable or unfinished: nothing was published for it
        const event = storedEvent(w, configFromEnv(process.env));
        if (!event) continue;
        const state = event.connectionId === undefined ? undefined : ((await store.getConnection(event.connectionId)) ?? { connectionId: event.connectionId, status: 'unknown' as const });
        messages.push({ event, ...(state && { state }), stale: w.stale ?? false });
      }
      const publisher = new EventBridgePublisher(bus, target.eventBusName);
      let failed = 0;
      for (let i = 0; i < messages.length; i += BATCH) {
        bar.update(i, messages.length, 'published');
        failed += (await publisher.publish(messages.slice(i, i + BATCH))).filter((accepted) => !accepted).length;
      }
      bar.finish();
      const replayed = messages.length - failed;
      io.stdout.write(values.json ? json({ eventBusName: target.eventBusName, replayed, rejected: failed }) : `replayed ${replayed} event(s) to ${target.eventBusName}${failed ? `; ${failed} rejected by the bus` : ''}\n`);
      exit(failed === 0 ? 0 : 1);
    } finally {
      bar.finish();
      close();
      bus.destroy();
    }
  });
}
