/**
 * `makini-webhooks`: sign and send Makini webhooks, and operate a stack, from the command line.
 *
 *   makini-webhooks sign --secret S < body.json
 *   makini-webhooks send --url http://127.0.0.1:3000/webhooks --secret S --type all
 *   makini-webhooks poll
 *
 * Built on commander, one file per command in ./commands. Exit codes: 0 success, 1 a failure (a
 * request, a run, AWS), 2 a usage error. Errors are one line on stderr, `makini-webhooks: …`; the
 * stack trace only with DEBUG set.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, type Help } from 'commander';
import { ConfigError } from '../../lambdas/config/config';
import * as bus from './commands/bus';
import * as connections from './commands/connections';
import * as consoleCommand from './commands/console';
import * as dlq from './commands/dlq';
import * as events from './commands/events';
import * as health from './commands/health';
import * as poll from './commands/poll';
import * as replay from './commands/replay';
import * as send from './commands/send';
import * as sign from './commands/sign';
import * as simulate from './commands/simulate';
import * as status from './commands/status';
import { EXIT, UsageError, type CliIo, type CommandContext } from './shared';

export type { CliIo } from './shared';

const NAME = 'makini-webhooks';

/** In the order `--help` lists them. */
const COMMANDS = [sign, send, simulate, connections, poll, dlq, replay, health, status, events, bus, consoleCommand];

/** Set by `npm run package` in the bundled CLI (dist/cli.cjs), which has no package.json at a fixed path. */
declare const MAKINI_PACKAGE_VERSION: string | undefined;

/** The package's version, for `--version`. */
export function version(): string {
  if (typeof MAKINI_PACKAGE_VERSION === 'string') return MAKINI_PACKAGE_VERSION;
  return (JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
}

/** A commander parse error, with the command it happened in (for the "try --help" hint). */
class CommandLineError extends Error {
  constructor(
    readonly error: CommanderError,
    readonly commandPath: string,
  ) {
    super(error.message);
  }
}

/** The program: a new one per run (commander keeps parse state on it), writing to `io`. */
export function buildProgram(context: CommandContext): Command {
  const { io } = context;
  const program = new Command(NAME)
    .usage('<command> [options]')
    .description('Sign and send Makini webhooks, and operate a makini-webhook-ingestion stack, local or on AWS.')
    .version(version(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .helpCommand('help [command]', "print a command's help")
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Parse errors are printed by main(), as one line like every other error.
      outputError: () => undefined,
      getOutHelpWidth: () => io.stdout.columns ?? 80,
      getErrHelpWidth: () => io.stderr.columns ?? 80,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .configureHelp({
      // "poll", not "poll [options]": the list reads as the commands' names, their options in their help.
      subcommandTerm: (cmd: Command) => [cmd.name(), ...cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`))].join(' '),
      subcommandDescription: (cmd: Command) => cmd.summary() || cmd.description(),
    } satisfies Partial<Help>)
    .addHelpText('after', `\nRun '${NAME} <command> --help' for a command's options.\nExit codes: 0 success, 1 a failure, 2 a usage error.`);
  for (const command of COMMANDS) command.register(program, context);
  // Every command (groups and their subcommands too) throws instead of exiting, naming itself.
  const override = (command: Command, names: string[]) => {
    command.exitOverride((error) => {
      throw new CommandLineError(error, names.join(' '));
    });
    for (const sub of command.commands) override(sub, [...names, sub.name()]);
  };
  override(program, [NAME]);
  return program;
}

export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram({ io, exit: (c) => (code = c) });
  try {
    if (argv.length === 0) {
      // No command: the overview, and exit 2 (it was not asked for).
      io.stdout.write(program.helpInformation());
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommandLineError) {
      const { exitCode, code: kind } = error.error;
      // --help, --version: already written.
      if (kind === 'commander.helpDisplayed' || kind === 'commander.version' || kind === 'commander.help') return exitCode === 0 ? EXIT.ok : EXIT.usage;
      io.stderr.write(`${NAME}: ${commanderMessage(error.error)} (see '${error.commandPath} --help')\n`);
      return EXIT.usage;
    }
    const usage = error instanceof UsageError || error instanceof ConfigError;
    io.stderr.write(`${NAME}: ${oneLine(error)}\n`);
    if (process.env.DEBUG && !usage) io.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    return usage ? EXIT.usage : EXIT.failure;
  }
}

/** Commander's message without its "error: " and without the value of an unknown `--flag=value` (it may be a secret). */
function commanderMessage(error: CommanderError): string {
  return oneLine(error).replace(/^error: /, '').replace(/'(--[^'=\s]+)=[^']*'/g, "'$1'");
}

/** An error as one line: its message (and a network error's cause), lines joined. */
function oneLine(error: unknown): string {
  // Duck-typed, not instanceof Error: an error from another realm (a vm context, a test runner) counts too.
  const e = error as { message?: unknown; name?: unknown; cause?: { code?: string; message?: string } } | null | undefined;
  let text = typeof e?.message === 'string' && e.message !== '' ? e.message : typeof e?.name === 'string' ? e.name : String(error);
  if (text === 'fetch failed' && e?.cause) text = `${text}: ${e.cause.code ?? e.cause.message}`;
  return text.replace(/\s*\n\s*/g, ' ').trim() || 'failed';
}

/** Runs the CLI as a process: `tsx bin/cli.ts …` or the `makini-webhooks` launcher. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      // main() answers every error itself; this is a last resort.
      process.stderr.write(`${NAME}: ${oneLine(error)}\n`);
      if (process.env.DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
