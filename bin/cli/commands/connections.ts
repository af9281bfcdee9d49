/** `makini-webhooks connections add | list | remove`: the per-connection Makini API tokens the poller uses. */
import { readFileSync } from 'node:fs';
import { CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, InvalidRequestException, PutSecretValueCommand, ResourceExistsException, RestoreSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Option, type Command } from 'commander';
import { configFromEnv, resolveConfig } from '../../../lambdas/config/config';
import { parseEventTime } from '../../../lambdas/core/event-time';
import { ACCESS_TOKEN_DAYS, formatConnectionSecret, parseConnectionSecret, REFRESH_TOKEN_DAYS, tokenFromResponse, type ConnectionToken } from '../../../lambdas/core/connection-secret';
import { SecretsManagerConnectionTokens } from '../../../lambdas/adapters/secrets-manager-connection-tokens';
import { json, noExtraArguments, readStdin, subcommand, table, UsageError, type CommandContext } from '../shared';

interface AddOptions {
  prefix?: string;
  tokenFile?: string;
  refreshTokenFile?: string;
  expiresAt?: string;
  refreshExpiresAt?: string;
}

const ADD_ONLY = [
  ['--token-file <F>', 'tokenFile'],
  ['--refresh-token-file <F>', 'refreshTokenFile'],
  ['--expires-at <ISO>', 'expiresAt'],
  ['--refresh-expires-at <ISO>', 'refreshExpiresAt'],
] as const;

const DAY_MS = 86_400_000;

/** What `connections add` reads: in the help of the group and of add (not re-wrapped by commander). */
const ADD_INPUTS = `
add reads one of:
  - a bare access token (optionally with --refresh-token-file and --expires-at);
  - Makini's token answer, {"access_token", "refresh_token", "expires_in", …} as the
    dashboard or POST /link/token gives it (expires_in: epoch seconds or a duration;
    the refresh token is taken to expire ${REFRESH_TOKEN_DAYS} days from now);
  - the secret's own form, {"token", "refreshToken", "expiresAt", "refreshExpiresAt"}.`;

export function register(program: Command, { io, exit }: CommandContext): void {
  const group = subcommand(program, 'connections', 'add, list or remove the per-connection Makini API tokens the poller uses')
    .usage('add <id> [--token-file F | < token] [--refresh-token-file F] [--expires-at ISO]\n       makini-webhooks connections list [--json]\n       makini-webhooks connections remove <id> [--force]')
    .description(
      [
        'Manages one Secrets Manager secret per connection, named <prefix><id>, holding {"connectionId", "token", "refreshToken", "expiresAt", "refreshExpiresAt"}; the poller (per-connection mode) discovers them by that prefix and refreshes a pair before its access token expires. Uses your AWS credentials and region, or the endpoint in AWS_ENDPOINT_URL_SECRETS_MANAGER. Tokens are never printed.',
        'list shows per connection whether it has a refresh token and when its tokens expire.',
      ].join('\n\n'),
    )
    .addHelpText('after', ADD_INPUTS)
    // Neither add, list nor remove: say so (without one, print this help and exit 2).
    .action((_values: unknown, cmd: Command) => {
      const [action] = cmd.args;
      if (action === undefined) {
        io.stdout.write(cmd.helpInformation());
        exit(2);
        return;
      }
      throw new UsageError(`unknown connections action '${action}': use add, list or remove`);
    });
  const prefixOption = (command: Command) => command.option('--prefix <P>', 'secret name prefix (default: MAKINI_CONNECTION_SECRET_PREFIX or makini/connections/)');
  /** add's options, refused by list and remove with a message that names add. */
  const refuseAddOptions = (command: Command, values: Record<string, unknown>) => {
    for (const [flags, key] of ADD_ONLY) if (values[key] !== undefined) throw new UsageError(`${flags.split(' ')[0]} is an option of connections add`);
    return command;
  };
  const hiddenAddOptions = (command: Command) => {
    for (const [flags] of ADD_ONLY) command.addOption(new Option(flags).hideHelp());
    return command;
  };
  const prefixOf = (values: { prefix?: string }) => resolveConfig({ ...configFromEnv(process.env), ...(values.prefix !== undefined && { connectionSecretPrefix: values.prefix }) }).connectionSecretPrefix;
  const withClient = async <T>(fn: (client: SecretsManagerClient) => Promise<T>): Promise<T> => {
    const client = new SecretsManagerClient({});
    try {
      return await fn(client);
    } finally {
      client.destroy();
    }
  };

  prefixOption(
    subcommand(group, 'add', "store a connection's token (standard input or --token-file), or replace it")
      .argument('[id]', 'the connection id')
      .usage('<id> [--token-file F | < token] [--refresh-token-file F] [--expires-at ISO] [--refresh-expires-at ISO]'),
  )
    .option('--token-file <F>', 'read the token or token JSON from F (default: standard input)')
    .option('--refresh-token-file <F>', 'bare token: read the refresh token from F')
    .option('--expires-at <ISO>', `bare token: when the access token expires (default with a refresh token: ${ACCESS_TOKEN_DAYS} days from now; without one: unknown)`)
    .option('--refresh-expires-at <ISO>', `bare token: when the refresh token expires (default: ${REFRESH_TOKEN_DAYS} days from now)`)
    .addHelpText('after', ADD_INPUTS)
    .action(async (id: string | undefined, values: AddOptions, cmd: Command) => {
      const name = checkedName(id, 'add', cmd, prefixOf(values));
      const input = (values.tokenFile !== undefined ? readFileSync(values.tokenFile) : await readStdin(io.stdin)).toString('utf8');
      const refreshInput = values.refreshTokenFile === undefined ? undefined : readFileSync(values.refreshTokenFile).toString('utf8');
      const token = connectionToken(id!, input, { refreshToken: refreshInput, expiresAt: values.expiresAt, refreshExpiresAt: values.refreshExpiresAt }, Date.now());
      const SecretString = formatConnectionSecret(token);
      const details = [
        token.refreshToken ? 'with a refresh token' : token.expiresAt || token.refreshExpiresAt ? 'without a refresh token' : '',
        token.expiresAt ? `access token expires ${token.expiresAt}` : '',
        token.refreshExpiresAt ? `refresh token expires ${token.refreshExpiresAt}` : '',
      ].filter((d) => d !== '');
      const suffix = details.length > 0 ? `: ${details.join(', ')}` : '';
      await withClient(async (client) => {
        try {
          await client.send(new CreateSecretCommand({ Name: name, SecretString, Description: `Makini API token of connection ${id}` }));
          io.stdout.write(`added ${id} (${name})${suffix}\n`);
        } catch (error) {
          // AWS answers InvalidRequestException for a name scheduled for deletion.
          if (!(error instanceof ResourceExistsException) && !(error instanceof InvalidRequestException)) throw error;
          // Removed earlier and still in its recovery window: restore it, then store the new value.
          const { DeletedDate } = await client.send(new DescribeSecretCommand({ SecretId: name }));
          if (DeletedDate) await client.send(new RestoreSecretCommand({ SecretId: name }));
          await client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
          io.stdout.write(`${DeletedDate ? 'restored and updated' : 'updated'} the token of ${id} (${name})${suffix}\n`);
        }
      });
      exit(0);
    });

  hiddenAddOptions(prefixOption(subcommand(group, 'list', 'the connections, whether each has a refresh token and when its tokens expire (never the tokens)')))
    .option('--json', 'print a JSON array, one object per connection')
    .action(async (values: { prefix?: string; json?: boolean } & Record<string, unknown>, cmd: Command) => {
      refuseAddOptions(cmd, values);
      noExtraArguments(cmd.args, { secret: true });
      const prefix = prefixOf(values);
      const { tokens, invalid } = await withClient((client) => new SecretsManagerConnectionTokens(client, { prefix, cacheSeconds: 0 }).discover());
      const now = Date.now();
      const rows = [
        ...tokens.map((t) => ({ connectionId: t.location.slice(prefix.length), refreshToken: t.refreshToken !== undefined, expiresAt: t.expiresAt ?? null, refreshExpiresAt: t.refreshExpiresAt ?? null, problem: null as string | null })),
        ...invalid.map((i) => ({ connectionId: i.name.startsWith(prefix) ? i.name.slice(prefix.length) : i.name, refreshToken: null, expiresAt: null, refreshExpiresAt: null, problem: `unusable secret: ${i.reason}` })),
      ].sort((a, b) => (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0));
      if (values.json) {
        io.stdout.write(json(rows));
        exit(0);
        return;
      }
      const when = (at: string | null) => (at === null ? null : Date.parse(at) <= now ? `${at} (expired)` : at);
      const problems = rows.some((r) => r.problem !== null);
      io.stdout.write(
        table(
          rows.map((r) => ({
            connectionId: r.connectionId,
            refreshToken: r.refreshToken === null ? null : r.refreshToken ? 'yes' : 'no',
            accessExpiresAt: when(r.expiresAt),
            refreshExpiresAt: when(r.refreshExpiresAt),
            ...(problems && { problem: r.problem }),
          })),
        ),
      );
      exit(0);
    });

  hiddenAddOptions(prefixOption(subcommand(group, 'remove', "delete a connection's secret (recoverable for 7 days unless --force)").argument('[id]', 'the connection id')))
    .option('--force', "delete at once, without Secrets Manager's 7-day recovery window")
    .action(async (id: string | undefined, values: { prefix?: string; force?: boolean } & Record<string, unknown>, cmd: Command) => {
      refuseAddOptions(cmd, values);
      const name = checkedName(id, 'remove', cmd, prefixOf(values));
      await withClient((client) => client.send(new DeleteSecretCommand({ SecretId: name, ...(values.force ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: 7 }) })));
      io.stdout.write(values.force ? `removed ${id}\n` : `removed ${id}; Secrets Manager keeps it recoverable for 7 days\n`);
      exit(0);
    });
}

/** The secret name of connection `id`, once the id and the command line are checked. */
function checkedName(id: string | undefined, action: string, cmd: Command, prefix: string): string {
  // More operands than the id: never echoed, the token may be among them.
  if (cmd.args.length > 1) throw new UsageError(`connections ${action} takes one connection id (${cmd.args.length - 1} more argument(s) not shown: they may hold a token; pass the token on standard input or with --token-file)`);
  if (id === undefined) throw new UsageError(`connections ${action} needs a connection id`);
  if (!/^[A-Za-z0-9_+=.@-]{1,128}$/.test(id)) throw new UsageError('a connection id may hold letters, digits and _+=.@- (1 to 128 characters)');
  return `${prefix}${id}`;
}

/**
 * The token `connections add` stores, from its input: a bare access token (with the pair's other
 * half and expiries from flags), Makini's token answer, or our own secret form. No message here
 * ever quotes the input: it holds tokens.
 */
function connectionToken(id: string, input: string, flags: { refreshToken?: string; expiresAt?: string; refreshExpiresAt?: string }, now: number): ConnectionToken {
  const text = input.trim();
  if (text === '') throw new UsageError('the token is empty');
  const time = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const parsed = parseEventTime(value);
    if (parsed === undefined) throw new UsageError(`--${flag} must be an ISO-8601 time`);
    return new Date(Date.parse(parsed)).toISOString();
  };
  if (text.startsWith('{')) {
    for (const [flag, value] of [['refresh-token-file', flags.refreshToken], ['expires-at', flags.expiresAt], ['refresh-expires-at', flags.refreshExpiresAt]] as const) {
      if (value !== undefined) throw new UsageError(`--${flag} is for a bare token: the JSON given carries the pair and its expiry`);
    }
    let fields: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      fields = parsed as Record<string, unknown>;
    } catch {
      throw new UsageError('the token input starts with { but is not a JSON object');
    }
    if (fields.connectionId !== undefined && fields.connectionId !== id) throw new UsageError(`the JSON given is for another connection than ${id} (its connectionId differs)`);
    const result = fields.token === undefined && fields.access_token !== undefined ? tokenFromResponse(id, fields, now) : parseConnectionSecret(JSON.stringify({ ...fields, connectionId: id }), now);
    if (!result.ok) throw new UsageError(`the token JSON is not usable: ${result.reason} (give Makini's token answer {"access_token", "refresh_token", "expires_in"} or {"token", "refreshToken", "expiresAt", "refreshExpiresAt"})`);
    return result.value;
  }
  if (/\s/.test(text)) throw new UsageError('the token holds whitespace: give the token alone, or a JSON object');
  const refreshToken = flags.refreshToken?.trim();
  if (refreshToken === '') throw new UsageError('the refresh token is empty');
  if (refreshToken !== undefined && /\s/.test(refreshToken)) throw new UsageError('the refresh token holds whitespace: give the token alone');
  if (refreshToken === undefined && flags.refreshExpiresAt !== undefined) throw new UsageError('--refresh-expires-at needs --refresh-token-file');
  const expiresAt = time('expires-at', flags.expiresAt) ?? (refreshToken ? new Date(now + ACCESS_TOKEN_DAYS * DAY_MS).toISOString() : undefined);
  const refreshExpiresAt = refreshToken ? (time('refresh-expires-at', flags.refreshExpiresAt) ?? new Date(now + REFRESH_TOKEN_DAYS * DAY_MS).toISOString()) : undefined;
  return { connectionId: id, token: text, ...(refreshToken && { refreshToken }), ...(expiresAt && { expiresAt }), ...(refreshExpiresAt && { refreshExpiresAt }) };
}
