/**
 * `makini-webhooks connections` on the table token store: a state directory whose stack.json names
 * dynalite, the local KMS and the local Secrets Manager, all on loopback, as `npm start` writes it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbConnectionTokens } from '../../lambdas/adapters/dynamodb-connection-tokens';
import { KmsEnvelope } from '../../lambdas/adapters/kms-envelope';
import { formatConnectionSecret } from '../../lambdas/core/connection-secret';
import { startLocalKms } from '../../local/aws/kms';
import type { JsonEndpoint } from '../../local/aws/json-endpoint';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startDynalite, type LocalDynamo } from '../support/dynalite';
import { cli } from '../support/run-cli';

const KEY = 'arn:aws:kms:us-east-1:000000000000:key/cli-connections-table';
const LOCAL = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 };

let dynamo: LocalDynamo;
let kms: JsonEndpoint;
let sm: LocalSecretsManager;
let dir: string;
let secrets: SecretsManagerClient;
let kmsClient: KMSClient;

beforeEach(async () => {
  [dynamo, kms, sm] = await Promise.all([startDynalite(), startLocalKms({ keys: [KEY] }), startLocalSecretsManager()]);
  dir = mkdtempSync(path.join(tmpdir(), 'makini-cli-tokens-'));
  const stackJson = {
    tableName: dynamo.tableName,
    tokenStore: 'table',
    tokenKeyArn: KEY,
    endpoints: { dynamodb: dynamo.endpoint, kms: kms.url, secretsManager: sm.url, sqs: 'http://127.0.0.1:9', eventBridge: 'http://127.0.0.1:9', s3: 'http://127.0.0.1:9', lambda: 'http://127.0.0.1:9' },
  };
  writeFileSync(path.join(dir, 'stack.json'), JSON.stringify(stackJson));
  secrets = new SecretsManagerClient({ ...LOCAL, endpoint: sm.url });
  kmsClient = new KMSClient({ ...LOCAL, endpoint: kms.url });
});
afterEach(async () => {
  secrets.destroy();
  kmsClient.destroy();
  rmSync(dir, { recursive: true, force: true });
  await Promise.all([dynamo.close(), kms.close(), sm.close()]);
});

/** The CLI against the state directory, without MAKINI_TOKEN_STORE: the stack's store is used. */
const run = (args: string[], stdin?: string) => cli([...args, '--local-dir', dir], stdin);
beforeAll(() => expect(process.env.MAKINI_TOKEN_STORE).toBeUndefined());
const tableStore = () => new DynamoDbConnectionTokens(dynamo.doc, new KmsEnvelope(kmsClient, KEY), { tableName: dynamo.tableName, cacheSeconds: 0 });

describe('makini-webhooks connections, table store', () => {
  it('adds, updates, lists and removes a pair sealed in the table; a missing one is one line and exit 1', async () => {
    const added = await run(['connections', 'add', 'conn_1'], 'at_cli_table_first_0001');
    expect(added).toEqual({ code: 0, stdout: `added conn_1 (table ${dynamo.tableName})\n`, stderr: '' });
    const updated = await run(['connections', 'add', 'conn_1'], JSON.stringify({ access_token: 'at_cli_table_second_0002', refresh_token: 'rt_cli_table_0003', expires_in: 3_600 }));
    expect(updated.stdout).toMatch(new RegExp(`^updated the token of conn_1 \\(table ${dynamo.tableName}\\): with a refresh token, access token expires \\S+Z, refresh token expires \\S+Z\\n$`));
    expect((await tableStore().discover()).tokens).toEqual([expect.objectContaining({ connectionId: 'conn_1', token: 'at_cli_table_second_0002', refreshToken: 'rt_cli_table_0003' })]);

    const listed = await run(['connections', 'list', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([{ connectionId: 'conn_1', refreshToken: true, expiresAt: expect.any(String), refreshExpiresAt: expect.any(String), problem: null }]);
    for (const out of [added, updated, listed]) expect(out.stdout + out.stderr).not.toMatch(/at_cli_table|rt_cli_table/);

    expect(await run(['connections', 'remove', 'conn_1'])).toEqual({ code: 0, stdout: 'removed conn_1\n', stderr: '' });
    const again = await run(['connections', 'remove', 'conn_1']);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toEqual([expect.stringContaining(`connection conn_1 has no token in table ${dynamo.tableName}`)]);
    expect(JSON.parse((await run(['connections', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('lists a pair that does not open by its connection id and the reason, never a value', async () => {
    await run(['connections', 'add', 'conn_ok'], 'at_fine_0001');
    await run(['connections', 'add', 'conn_bad'], 'at_bad_0002');
    const { UpdateItemCommand } = await import('@aws-sdk/client-dynamodb');
    // The sealed bytes of one pair altered: its tag no longer matches.
    await dynamo.client.send(new UpdateItemCommand({ TableName: dynamo.tableName, Key: { pk: { S: 'TOKENS' }, sk: { S: 'CONNECTION#conn_bad' } }, UpdateExpression: 'SET sealed.#d = :d', ExpressionAttributeNames: { '#d': 'data' }, ExpressionAttributeValues: { ':d': { B: Buffer.from('not the ciphertext') } } }));
    const listed = await run(['connections', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^conn_bad\s+-\s+-\s+-\s+unusable pair: .+$/m);
    expect(listed.stdout).toMatch(/^conn_ok\s+no\s/m);
    expect(listed.stdout).not.toMatch(/at_fine|at_bad/);
  });

  it('migrate copies the secrets the table lacks, deletes with --delete-secrets only those whose pair the table holds as is, and exits 1 while a secret is unreadable', async () => {
    const put = (id: string, token: string) => secrets.send(new CreateSecretCommand({ Name: `makini/connections/${id}`, SecretString: formatConnectionSecret({ connectionId: id, token }) }));
    await put('conn_new', 'at_secret_new_0001');
    await put('conn_same', 'at_secret_same_0002');
    await put('conn_newer', 'at_secret_newer_0003');
    // The table already holds conn_same's pair as is, and another pair for conn_newer.
    await run(['connections', 'add', 'conn_same'], 'at_secret_same_0002');
    await run(['connections', 'add', 'conn_newer'], 'at_table_newer_0004');
    const migrated = await run(['connections', 'migrate', '--delete-secrets', '--json']);
    expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(migrated.stdout)).toEqual({
      copied: ['conn_new'],
      present: ['conn_same', 'conn_newer'].sort(),
      removed: [],
      dropped: [],
      invalid: [],
      deleted: ['makini/connections/conn_new', 'makini/connections/conn_same'],
      kept: ['makini/connections/conn_newer'],
    });
    expect(migrated.stdout).not.toMatch(/at_secret|at_table/);
    const deletedDate = async (id: string) => (await secrets.send(new DescribeSecretCommand({ SecretId: `makini/connections/${id}` }))).DeletedDate;
    expect(await deletedDate('conn_new')).toBeInstanceOf(Date);
    expect(await deletedDate('conn_newer')).toBeUndefined();
    const tokens = Object.fromEntries((await tableStore().discover()).tokens.map((t) => [t.connectionId, t.token]));
    expect(tokens).toEqual({ conn_new: 'at_secret_new_0001', conn_same: 'at_secret_same_0002', conn_newer: 'at_table_newer_0004' });

    // An unreadable secret: reported by name, nothing deleted for it, exit 1.
    await secrets.send(new CreateSecretCommand({ Name: 'makini/connections/conn_broken', SecretString: 'not json' }));
    const partial = await run(['connections', 'migrate']);
    expect(partial.code).toBe(1);
    expect(partial.stdout).toMatch(/^could not read secret makini\/connections\/conn_broken: /m);
  });

  it('a connection removed from the table is not brought back from its old secret; --replace writes every secret over the table, the removed one too', async () => {
    const put = (id: string, token: string) => secrets.send(new CreateSecretCommand({ Name: `makini/connections/${id}`, SecretString: formatConnectionSecret({ connectionId: id, token }) }));
    await put('conn_gone', 'at_secret_gone_0001');
    await put('conn_kept', 'at_secret_kept_0002');
    await run(['connections', 'add', 'conn_gone'], 'at_table_gone_0003');
    await run(['connections', 'add', 'conn_kept'], 'at_table_kept_0004');
    expect(await run(['connections', 'remove', 'conn_gone'])).toMatchObject({ code: 0, stdout: 'removed conn_gone\n' });
    const migrated = await run(['connections', 'migrate', '--json']);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ copied: [], present: ['conn_kept'], removed: ['conn_gone'] });
    expect((await tableStore().discover()).tokens.map((t) => [t.connectionId, t.token])).toEqual([['conn_kept', 'at_table_kept_0004']]);
    expect((await run(['connections', 'migrate'])).stdout).toMatch(/^skipped 1 connection\(s\) removed with connections remove \(their secrets not copied\): conn_gone$/m);

    // --replace: the table holds exactly the secrets' pairs; one only in the table (removed while
    // Secrets Manager was the store) goes.
    await run(['connections', 'add', 'conn_table_only'], 'at_table_only_0005');
    const replaced = await run(['connections', 'migrate', '--replace', '--json']);
    expect(JSON.parse(replaced.stdout)).toMatchObject({ copied: ['conn_gone', 'conn_kept'], present: [], removed: [], dropped: ['conn_table_only'] });
    const tokens = Object.fromEntries((await tableStore().discover()).tokens.map((t) => [t.connectionId, t.token]));
    expect(tokens).toEqual({ conn_gone: 'at_secret_gone_0001', conn_kept: 'at_secret_kept_0002' });
  });

  it('refuses the table store for a stack that keeps its tokens in Secrets Manager, and migrate on that store, with one line and exit 2', async () => {
    writeFileSync(path.join(dir, 'stack.json'), JSON.stringify({ tableName: dynamo.tableName, tokenStore: 'secrets-manager', endpoints: { dynamodb: dynamo.endpoint, kms: kms.url, secretsManager: sm.url } }));
    const refused = await cli(['connections', 'list', '--store', 'table', '--local-dir', dir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toEqual([expect.stringMatching(/keeps its connection tokens in Secrets Manager .*--store secrets-manager/)]);
    const migrate = await run(['connections', 'migrate']);
    expect(migrate.code).toBe(2);
    expect(migrate.stderr).toMatch(/copies into the table store/);
    // That stack's own store: its Secrets Manager, through --local-dir.
    expect(await run(['connections', 'add', 'conn_s'], 'at_in_secret_0001')).toMatchObject({ code: 0, stdout: 'added conn_s (makini/connections/conn_s)\n' });
  });
});
