/** `makini-webhooks console`: the web console, on 127.0.0.1, for the local stack or a deployed one. */
import type { Command } from 'commander';
import { consoleOperations } from '../console/operations';
import { startConsoleServer } from '../console/server';
import { addTargetOptions, noExtraArguments, resolveTarget, subcommand, wholeNumber, type CommandContext, type TargetOptions } from '../shared';

interface ConsoleOptions extends TargetOptions {
  readOnly?: boolean;
  port?: string;
}

export function register(program: Command, { io, exit }: CommandContext): void {
  addTargetOptions(
    subcommand(program, 'console', 'serve the web console on 127.0.0.1 (events, connections, DLQ, replay, health, test webhooks)')
      .usage('[--read-only] [--port N] [--stack NAME | --local-dir D]')
      .description(
        [
          'Serves a web UI on 127.0.0.1 and prints its URL, with a random access token, on the first line. It shows the live event stream, the connection board, the dead-letter queue (with redrive), replay, alarms and queue depth, and sends signed test webhooks.',
          'It acts on the running local stack, or with --stack on a deployed stack with your AWS credentials and region. --read-only hides every action that changes something, and the server refuses them. Ctrl-C stops it.',
        ].join('\n\n'),
      )
      .option('--read-only', 'no redrive, replay or test webhook: only look')
      .option('--port <N>', 'the port on 127.0.0.1, 0 to 65535 (default: 0, a free one)'),
  ).action(async (values: ConsoleOptions, cmd: Command) => {
    noExtraArguments(cmd.args);
    const port = wholeNumber('port', values.port, 0, 0, 65_535);
    const target = await resolveTarget(values);
    const operations = await consoleOperations(values, target);
    const server = await startConsoleServer({ operations, readOnly: values.readOnly === true, port, log: (line) => io.stderr.write(`${line}\n`) });
    // The first line is the URL alone, so scripts (and tests) can read it.
    io.stdout.write(`${server.url}\n`);
    io.stdout.write(`console for ${target.name}${values.readOnly ? ' (read-only)' : ''}: open the URL above (the token in it is the only way in); Ctrl-C stops it\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await server.close();
    exit(0);
  });
}
