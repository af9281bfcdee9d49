/** `makini-webhooks connections add | list | remove | migrate`: the per-connection Makini API tokens the poller uses. */
import { readFileSync } from 'node:fs';
import { CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, InvalidRequestException, PutSecretValueCommand, ResourceExistsException, RestoreSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Option, type Command } from 'commander';
import { configFromEnv, resolveConfig } from '../../../lambdas/config/config';
import { parseEventTime } from '../../../lambdas/core/event-time';
import { ACCESS_TOKEN_DAYS, formatConnectionSecret, parseConnectionSecret, REFRESH_TOKEN_DAYS, tokenFromResponse, type ConnectionToken } from '../../../lambdas/core/connection-secret';
import { SecretsManagerConnectionTokens, type TokenDiscovery } from '../../../lambdas/adapters/secrets-manager-connection-tokens';
import type { ConnectionTokenStores } from '../../../lambdas/adapters/connection-token-stores';
import { addTargetOptions, json, noExtraArguments, readStdin, resolveTarget, subcommand, table, tokenStoresFor, UsageError, type CommandContext, type TargetOptions } from '../shared';

interface StoreOptions extends TargetOptions {
  prefix?: string;
  store?: string;
}

interface AddOptions extends StoreOptions {
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

/** Where `connections` acts: one secret per connection, or the table store of a stack. */
type OpenStore =
  | { readonly kind: 'secrets-manager'; readonly client: SecretsManagerClient; readonly prefix: string; close(): void }
  | { readonly kind: 'table'; readonly stores: ConnectionTokenStores & { readonly table: NonNullable<ConnectionTokenStores['table']> }; readonly client: SecretsManagerClient; readonly where: string; close(): void };

export function register(program: Command, { io, exit }: CommandContext): void {
  const group = subcommand(program, 'connections', 'add, list, remove or migrate the per-connection Makini API tokens the poller uses')
    .usage(
      [
        'add <id> [--token-file F | < token] [--refresh-token-file F] [--expires-at ISO] [STORE]',
        '       makini-webhooks connections list [--json] [STORE]',
        '       makini-webhooks connections remove <id> [--force] [STORE]',
        '       makini-webhooks connections migrate [--delete-secrets] [--replace] [--json] [STORE]',
        '  STORE: [--stack NAME | --local-dir D] [--store table|secrets-manager] [--prefix P]',
      ].join('\n'),
    )
    .description(
      [
        'Manages the token pair of each connection, {"connectionId", "token", "refreshToken", "expiresAt", "refreshExpiresAt"}, where the poller (per-connection mode) finds it and refreshes it before its access token expires. Tokens are never printed.',
        "Where (the tokenStore setting): 'table', the default, keeps each pair as an item of the stack's event table sealed under its token key (the local stack's, or with --stack a deployed stack's EventTableName and TokenKeyArn outputs, with your AWS credentials and region). 'secrets-manager' keeps one secret per connection, named <prefix><id>: with --stack or --local-dir that stack's, else your AWS credentials and region, or the endpoint in AWS_ENDPOINT_URL_SECRETS_MANAGER. --store (or MAKINI_TOKEN_STORE) chooses; without either, the stack's own setting.",
        'list shows per connection whether it has a refresh token and when its tokens expire. migrate copies the pairs still in Secrets Manager into the table (never over a pair it holds), as the poller does at its first run; --delete-secrets then deletes the copied secrets ($0.40 a month each), recoverable for 7 days.',
      ].join('\n\n'),
    )
    .addHelpText('after', ADD_INPUTS)
    // Neither add, list, remove nor migrate: say so (without one, print this help and exit 2).
    .action((_values: unknown, cmd: Command) => {
      const [action] = cmd.args;
      if (action === undefined) {
        io.stdout.write(cmd.helpInformation());
        exit(2);
        return;
      }
      throw new UsageError(`unknown connections action '${action}': use add, list, remove or migrate`);
    });
  const storeOptions = (command: Command) =>
    addTargetOptions(
      command
        .option('--store <S>', "table | secrets-manager (default: MAKINI_TOKEN_STORE, else the stack's tokenStore)")
        .option('--prefix <P>', 'secret name prefix (default: MAKINI_CONNECTION_SECRET_PREFIX or makini/connections/)'),
    );
  /** add's options, refused by the other actions with a message that names add. */
  const refuseAddOptions = (command: Command, values: Record<string, unknown>) => {
    for (const [flags, key] of ADD_ONLY) if (values[key] !== undefined) throw new UsageError(`${flags.split(' ')[0]} is an option of connections add`);
    return command;
  };
  const hiddenAddOptions = (command: Command) => {
    for (const [flags] of ADD_ONLY) command.addOption(new Option(flags).hideHelp());
    return command;
  };
  const configOf = (values: StoreOptions) =>
    resolveConfig({ ...configFromEnv(process.env), ...(values.prefix !== undefined && { connectionSecretPrefix: values.prefix }), ...(values.store !== undefined && { tokenStore: values.store }) });
  /** The store the options name: --store or MAKINI_TOKEN_STORE, else the target's own. */
  const openStore = async (values: StoreOptions): Promise<OpenStore> => {
    const config = configOf(values);
    const chosen = values.store !== undefined || process.env.MAKINI_TOKEN_STORE !== undefined ? config.tokenStore : undefined;
    const prefix = config.connectionSecretPrefix;
    // Secrets Manager and no stack named: your credentials and region (or AWS_ENDPOINT_URL_SECRETS_MANAGER).
    const target = chosen === 'secrets-manager' && values.stack === undefined && values.localDir === undefined ? undefined : await resolveTarget(values);
    if (!target || (chosen ?? target.tokenStore) === 'secrets-manager') {
      const client = new SecretsManagerClient(target?.client('secretsManager') ?? {});
      return { kind: 'secrets-manager', client, prefix, close: () => client.destroy() };
    }
    const stores = tokenStoresFor(target, { tokenStore: 'table', connectionSecretPrefix: prefix });
    const { table } = stores;
    if (!table) throw new Error('tokenStore table built no table store'); // connectionTokenStores builds one for table
    return { kind: 'table', stores: { ...stores, table }, client: stores.secretsClient, where: `table ${target.tableName}`, close: stores.close };
  };
  const withStore = async <T>(values: StoreOptions, fn: (store: OpenStore) => Promise<T>): Promise<T> => {
    const store = await openStore(values);
    try {
      return await fn(store);
    } finally {
      store.close();
    }
  };

  storeOptions(
    subcommand(group, 'add', "store a connection's token (standard input or --token-file), or replace it")
      .argument('[id]', 'the connection id')
      .usage('<id> [--token-file F | < token] [--refresh-token-file F] [--expires-at ISO] [--refresh-expires-at ISO] [--stack NAME | --local-dir D] [--store S] [--prefix P]'),
  )
    .option('--token-file <F>', 'read the token or token JSON from F (default: standard input)')
    .option('--refresh-token-file <F>', 'bare token: read the refresh token from F')
    .option('--expires-at <ISO>', `bare token: when the access token expires (default with a refresh token: ${ACCESS_TOKEN_DAYS} days from now; without one: unknown)`)
    .option('--refresh-expires-at <ISO>', `bare token: when the refresh token expires (default: ${REFRESH_TOKEN_DAYS} days from now)`)
    .addHelpText('after', ADD_INPUTS)
    .action(async (id: string | undefined, values: AddOptions, cmd: Command) => {
      const name = checkedName(id, 'add', cmd, configOf(values).connectionSecretPrefix);
      const input = (values.tokenFile !== undefined ? readFileSync(values.tokenFile) : await readStdin(io.stdin)).toString('utf8');
      const refreshInput = values.refreshTokenFile === undefined ? undefined : readFileSync(values.refreshTokenFile).toString('utf8');
      const token = connectionToken(id!, input, { refreshToken: refreshInput, expiresAt: values.expiresAt, refreshExpiresAt: values.refreshExpiresAt }, Date.now());
      const details = [
        token.refreshToken ? 'with a refresh token' : token.expiresAt || token.refreshExpiresAt ? 'without a refresh token' : '',
        token.expiresAt ? `access token expires ${token.expiresAt}` : '',
        token.refreshExpiresAt ? `refresh token expires ${token.refreshExpiresAt}` : '',
      ].filter((d) => d !== '');
      const suffix = details.length > 0 ? `: ${details.join(', ')}` : '';
      await withStore(values, async (store) => {
        if (store.kind === 'table') {
          const replaced = await store.stores.table.save(token);
          io.stdout.write(`${replaced ? 'updated the token of' : 'added'} ${id} (${store.where})${suffix}\n`);
          return;
        }
        const { client } = store;
        const SecretString = formatConnectionSecret(token);
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

  hiddenAddOptions(storeOptions(subcommand(group, 'list', 'the connections, whether each has a refresh token and when its tokens expire (never the tokens)')))
    .option('--json', 'print a JSON array, one object per connection')
    .action(async (values: StoreOptions & { json?: boolean } & Record<string, unknown>, cmd: Command) => {
      refuseAddOptions(cmd, values);
      noExtraArguments(cmd.args, { secret: true });
      const { discovery, idOf, what } = await withStore(values, async (store) =>
        store.kind === 'table'
          ? { discovery: await store.stores.table.discover(), idOf: (location: string) => location, what: 'pair' }
          : { discovery: await new SecretsManagerConnectionTokens(store.client, { prefix: store.prefix, cacheSeconds: 0 }).discover(), idOf: (name: string) => (name.startsWith(store.prefix) ? name.slice(store.prefix.length) : name), what: 'secret' },
      );
      const rows = listRows(discovery, idOf, what);
      if (values.json) {
        io.stdout.write(json(rows));
        exit(0);
        return;
      }
      const now = Date.now();
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

  hiddenAddOptions(storeOptions(subcommand(group, 'remove', "delete a connection's pair (a secret stays recoverable for 7 days unless --force)").argument('[id]', 'the connection id')))
    .option('--force', "secrets-manager: delete at once, without Secrets Manager's 7-day recovery window")
    .action(async (id: string | undefined, values: StoreOptions & { force?: boolean } & Record<string, unknown>, cmd: Command) => {
      refuseAddOptions(cmd, values);
      const name = checkedName(id, 'remove', cmd, configOf(values).connectionSecretPrefix);
      const message = await withStore(values, async (store) => {
        if (store.kind === 'table') {
          if (!(await store.stores.table.remove(id!))) throw new Error(`connection ${id} has no token in ${store.where}`);
          return `removed ${id}\n`;
        }
        await store.client.send(new DeleteSecretCommand({ SecretId: name, ...(values.force ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: 7 }) }));
        return values.force ? `removed ${id}\n` : `removed ${id}; Secrets Manager keeps it recoverable for 7 days\n`;
      });
      io.stdout.write(message);
      exit(0);
    });

  hiddenAddOptions(storeOptions(subcommand(group, 'migrate', 'copy the pairs still in Secrets Manager into the table store (and delete those secrets with --delete-secrets)')))
    .option('--delete-secrets', 'then delete each secret whose pair the table now holds (recoverable for 7 days); a secret whose pair differs is kept')
    .option('--replace', 'make the table hold exactly the secrets\' pairs: each written over what the table holds, removed connections included, and a pair without a secret removed (moving back to the table after a time with --store secrets-manager)')
    .option('--json', 'print one JSON object: copied, present, removed, dropped, invalid, deleted, kept')
    .action(async (values: StoreOptions & { deleteSecrets?: boolean; replace?: boolean; json?: boolean } & Record<string, unknown>, cmd: Command) => {
      refuseAddOptions(cmd, values);
      noExtraArguments(cmd.args);
      const outcome = await withStore(values, async (store) => {
        if (store.kind !== 'table') throw new UsageError('connections migrate copies into the table store, and this one is secrets-manager (--store table, or a stack whose tokenStore is table)');
        // Read once, copied from, and compared with what the table holds afterwards.
        const secrets = await store.stores.secrets.discover();
        const migration = await store.stores.table.migrateFrom({ discover: async () => secrets }, { replace: values.replace === true });
        const deleted: string[] = [];
        const kept: string[] = [];
        if (values.deleteSecrets) {
          // Only a secret whose pair the table now holds as is: one that differs (stored there after
          // the copy, say) may be the newer pair, and stays for the operator to look at.
          const inTable = new Map((await store.stores.table.discover()).tokens.map((t) => [t.connectionId, t.token]));
          for (const secret of secrets.tokens) {
            if (inTable.get(secret.connectionId) !== secret.token) {
              kept.push(secret.location);
              continue;
            }
            await store.client.send(new DeleteSecretCommand({ SecretId: secret.location, RecoveryWindowInDays: 7 }));
            deleted.push(secret.location);
          }
        }
        return { ...migration, deleted, kept, where: store.where };
      });
      const { copied, present, removed, dropped, invalid, deleted, kept } = outcome;
      if (values.json) io.stdout.write(json({ copied, present, removed, dropped, invalid, deleted, kept }));
      else {
        const lines = [
          `copied ${copied.length} connection(s) into ${outcome.where}${copied.length > 0 ? `: ${copied.join(', ')}` : ''}`,
          ...(present.length > 0 ? [`kept ${present.length} pair(s) the table already held (their secrets not copied; --replace copies them): ${present.join(', ')}`] : []),
          ...(removed.length > 0 ? [`skipped ${removed.length} connection(s) removed with connections remove (their secrets not copied): ${removed.join(', ')}`] : []),
          ...(dropped.length > 0 ? [`removed ${dropped.length} connection(s) from the table that have no secret any more: ${dropped.join(', ')}`] : []),
          ...(values.deleteSecrets ? [`deleted ${deleted.length} secret(s), recoverable for 7 days`] : []),
          ...(kept.length > 0 ? [`kept ${kept.length} secret(s) whose pair differs from the table's (delete them once checked): ${kept.join(', ')}`] : []),
          ...invalid.map((i) => `could not read secret ${i.name}: ${i.reason}`),
        ];
        io.stdout.write(`${lines.join('\n')}\n`);
      }
      // A secret not read is not copied: run again once it reads (the poller looks again each run).
      exit(invalid.length > 0 ? 1 : 0);
    });
}

/** `connections list` rows: each usable pair, and each unusable one by name with the reason. */
function listRows(discovery: TokenDiscovery, idOf: (location: string) => string, what: string) {
  return [
    ...discovery.tokens.map((t) => ({ connectionId: idOf(t.location), refreshToken: t.refreshToken !== undefined, expiresAt: t.expiresAt ?? null, refreshExpiresAt: t.refreshExpiresAt ?? null, problem: null as string | null })),
    ...discovery.invalid.map((i) => ({ connectionId: idOf(i.name), refreshToken: null, expiresAt: null, refreshExpiresAt: null, problem: `unusable ${what}: ${i.reason}` })),
  ].sort((a, b) => (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0));
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
