/** `makini-webhooks bus`: events the local stack published on its bus. */
import { Option, type Command } from 'commander';
import { readBusLog } from '../../../local/aws/eventbridge';
import { addJsonOption, addTargetOptions, json, localStack, noExtraArguments, subcommand, table, UsageError, wholeNumber, type CommandContext } from '../shared';

export function register(program: Command, { io, exit }: CommandContext): void {
  addTargetOptions(
    addJsonOption(
      subcommand(program, 'bus', 'events the local stack published on its bus')
        .usage('[--limit N] [--json] [--local-dir D]')
        .description('The latest events the local stack put on its EventBridge bus (what your rules would receive), newest first.')
        .option('--limit <N>', 'at most N events, 1 to 10000 (default: 50)'),
      'print the events whole, as EventBridge delivers them',
    ),
    { stack: false },
  )
    // Only to say why not: on AWS there is no log to read.
    .addOption(new Option('--stack <NAME>').hideHelp())
    .action((values: { json?: boolean; limit?: string; localDir?: string; stack?: string }, cmd: Command) => {
      noExtraArguments(cmd.args);
      if (values.stack !== undefined) throw new UsageError("bus reads the local stack's log; on AWS, attach a rule to the EventBusName output (see README)");
      const limit = wholeNumber('limit', values.limit, 50, 1, 10_000);
      const rows = readBusLog(localStack(values.localDir).busLog)
        .slice(-limit)
        .reverse()
        .map((e) => {
          const detail = e.detail as { event?: { webhookId?: string; connectionId?: string }; state?: { status?: string }; transition?: { to?: string } };
          return values.json ? { ...e } : { time: e.time, detailType: e['detail-type'], webhookId: detail.event?.webhookId, connectionId: detail.event?.connectionId, status: detail.state?.status, transition: detail.transition?.to ?? '' };
        });
      io.stdout.write(values.json ? json(rows) : table(rows));
      exit(0);
    });
}
