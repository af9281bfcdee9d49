/** `makini-webhooks events`: processed events, newest first, from the local stack or a deployed one. */
import type { Command } from 'commander';
import { configFromEnv } from '../../../lambdas/config/config';
import { abbreviate, addJsonOption, addTargetOptions, json, noExtraArguments, resolveTarget, storedEvent, storeFor, subcommand, table, wholeNumber, type CommandContext, type TargetOptions } from '../shared';

export function register(program: Command, { io, exit }: CommandContext): void {
  addTargetOptions(
    addJsonOption(
      subcommand(program, 'events', 'processed events, newest first, from the running local stack')
        .usage('[--connection C] [--limit N] [--json] [--stack NAME | --local-dir D]')
        .description(
          "Processed events, newest first by event time: webhookId, type, occurredAt, source, deliveries, stale, connection, and for notifications the record ids (--json: the whole normalised event). An event without a connection shows '-'.",
        )
        .option('--connection <C>', "only this connection's events")
        .option('--limit <N>', 'at most N events, 1 to 10000 (default: 50)'),
      'print a JSON array, one object per event, with the whole normalised event',
    ),
  ).action(async (values: TargetOptions & { json?: boolean; connection?: string; limit?: string }, cmd: Command) => {
    noExtraArguments(cmd.args);
    const limit = wholeNumber('limit', values.limit, 50, 1, 10_000);
    const { store, withBodies, close } = storeFor(await resolveTarget(values));
    try {
      const stored = await withBodies(values.connection !== undefined ? await store.listEvents(values.connection, limit) : await store.listAllEvents(limit));
      const fields = configFromEnv(process.env);
      const rows = stored.map((w) => {
        const event = storedEvent(w, fields);
        const row = { webhookId: w.webhookId, type: w.type, occurredAt: w.occurredAt, source: w.source, deliveries: w.deliveries, stale: w.stale ?? false, connectionId: w.connectionId };
        if (values.json) return { ...row, ...(event && { event }) };
        return { ...row, ids: event?.ids ? abbreviate(event.ids) : undefined };
      });
      io.stdout.write(values.json ? json(rows) : table(rows));
      exit(0);
    } finally {
      close();
    }
  });
}
