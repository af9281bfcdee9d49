/** `makini-webhooks status`: connections and their state, from the local stack or a deployed one. */
import type { Command } from 'commander';
import { addJsonOption, addTargetOptions, json, noExtraArguments, resolveTarget, storeFor, subcommand, table, type CommandContext, type TargetOptions } from '../shared';

export function register(program: Command, { io, exit }: CommandContext): void {
  addTargetOptions(
    addJsonOption(
      subcommand(program, 'status', 'connections and their state, from the running local stack')
        .usage('[--json] [--stack NAME | --local-dir D]')
        .description(
          "One row per connection: status, whether reauthorization is needed, last event, last webhook, last sync and its outcome, last poll. Reads the local stack started by 'npm start' (state in D, default .local or MAKINI_LOCAL_DIR), or with --stack a deployed stack (its EventTableName output, with your AWS credentials and region).",
        ),
      'print a JSON array, one object per connection',
    ),
  ).action(async (values: TargetOptions & { json?: boolean }, cmd: Command) => {
    noExtraArguments(cmd.args);
    const { store, close } = storeFor(await resolveTarget(values));
    try {
      const rows = (await store.listConnections()).map(({ connectionId, state, poll }) => ({
        connectionId,
        status: state?.status ?? 'unknown',
        needsReauthorization: state?.status === 'reauthorization_required' || poll?.lastOutcome === 'unauthorized',
        lastEventAt: state?.lastEventAt ?? null,
        lastWebhookAt: state?.lastWebhookAt ?? null,
        lastSyncAt: state?.lastSyncAt ?? null,
        lastSyncStatus: state?.lastSyncStatus ?? null,
        lastPolledAt: poll?.lastPolledAt ?? null,
      }));
      io.stdout.write(values.json ? json(rows) : table(rows));
      exit(0);
    } finally {
      close();
    }
  });
}
