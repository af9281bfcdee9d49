/**
 * The table token store against real components on loopback: dynalite (the event table), the local
 * KMS endpoint and, for the migration, the local Secrets Manager.
 */
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DeleteSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbConnectionTokens, type LegacyTokenSource } from '../../lambdas/adapters/dynamodb-connection-tokens';
import { DATA_KEY_CACHE_MS, DATA_KEY_REUSE_MS, KmsEnvelope } from '../../lambdas/adapters/kms-envelope';
import { SecretsManagerConnectionTokens } from '../../lambdas/adapters/secrets-manager-connection-tokens';
import { startLocalKms } from '../../local/aws/kms';
import type { JsonEndpoint } from '../../local/aws/json-endpoint';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

const KEY = 'arn:aws:kms:us-east-1:111111111111:key/11111111-2222-3333-4444-555555555555';
const OTHER_KEY = 'arn:aws:kms:us-east-1:111111111111:key/99999999-2222-3333-4444-555555555555';

let dynamo: LocalDynamo;
let kms: JsonEndpoint;
let kmsClient: KMSClient;
let kmsFault: string | undefined;

beforeAll(async () => {
  [dynamo, kms] = await Promise.all([startDynalite(), startLocalKms({ keys: [KEY, OTHER_KEY], fault: (operation) => (operation === kmsFault ? 'unavailable' : undefined) })]);
  kmsClient = new KMSClient({ endpoint: kms.url, maxAttempts: 1 });
});
afterAll(async () => {
  kmsClient.destroy();
  await Promise.all([dynamo.close(), kms.close()]);
});

const store = (envelope = new KmsEnvelope(kmsClient, KEY), extra: { legacy?: LegacyTokenSource; reseal?: boolean; now?: () => number } = {}) =>
  new DynamoDbConnectionTokens(dynamo.doc, envelope, { tableName: dynamo.tableName, cacheSeconds: 0, ...extra });
const pair = (connectionId: string, token = `at_${connectionId}`) => ({ connectionId, token, refreshToken: `rt_${connectionId}`, expiresAt: '2027-01-01T00:00:00.000Z', refreshExpiresAt: '2027-01-02T00:00:00.000Z' });

describe('DynamoDbConnectionTokens', () => {
  afterEach(async () => {
    // Every item of the tokens' partition, tombstones and the migration's marker included.
    const { Items = [] } = await dynamo.doc.send(new QueryCommand({ TableName: dynamo.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'TOKENS' } }));
    for (const item of Items) await dynamo.doc.send(new DeleteCommand({ TableName: dynamo.tableName, Key: { pk: item.pk, sk: item.sk } }));
  });
  const itemOf = async (connectionId: string) => (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: `CONNECTION#${connectionId}` } }))).Item!;

  // Found by the adversarial review of 2026-12-03, each test failing before its fix.
  it('does not open a previous pair copied over the current one (a rollback), nor an item copied under another key', async () => {
    const tokens = store();
    await tokens.save(pair('c1'));
    const [old] = (await tokens.discover()).tokens;
    await tokens.writeBack({ ...old!, token: 'at_new', refreshToken: 'rt_new' }, old);
    const item = await itemOf('c1');
    await dynamo.doc.send(new PutCommand({ TableName: dynamo.tableName, Item: { ...item, sk: 'CONNECTION#c2' } }));
    await dynamo.doc.send(new UpdateCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: 'CONNECTION#c1' }, UpdateExpression: 'SET sealed = :p', ExpressionAttributeValues: { ':p': item.previous } }));
    const { tokens: found, invalid } = await store().discover();
    expect(found).toEqual([]);
    expect(invalid.map((i) => i.name).sort()).toEqual(['c1', 'c2']);
  });

  it('refuses a shortened tag, and asks KMS for one data key however many seals start at once', async () => {
    const envelope = new KmsEnvelope(kmsClient, KEY);
    const sealed = await Promise.all([1, 2, 3, 4, 5].map((i) => envelope.seal(Buffer.from(`secret ${i}`), 'a')));
    expect(envelope.calls.generateDataKey).toBe(1);
    await expect(envelope.open({ ...sealed[0]!, tag: sealed[0]!.tag.subarray(0, 4) }, 'a')).rejects.toThrow(/wrong length/);
    expect((await envelope.open(sealed[0]!, 'a')).toString()).toBe('secret 1');
  });

  it('the local KMS answers a truncated blob, another context or another key as KMS does', async () => {
    const { CiphertextBlob } = await kmsClient.send(new GenerateDataKeyCommand({ KeyId: KEY, KeySpec: 'AES_256', EncryptionContext: { purpose: 'x' } }));
    await expect(kmsClient.send(new DecryptCommand({ CiphertextBlob: CiphertextBlob!.subarray(0, 2 + KEY.length + 12), EncryptionContext: { purpose: 'x' } }))).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    await expect(kmsClient.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { purpose: 'y' } }))).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    await expect(kmsClient.send(new DecryptCommand({ CiphertextBlob, KeyId: OTHER_KEY, EncryptionContext: { purpose: 'x' } }))).rejects.toMatchObject({ name: 'IncorrectKeyException' });
    const { Plaintext } = await kmsClient.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { purpose: 'x' } }));
    expect(Plaintext).toHaveLength(32);
  });

  it('stores pairs sealed, and discovers them back in one Query with one KMS key operation each way', async () => {
    const envelope = new KmsEnvelope(kmsClient, KEY);
    const tokens = store(envelope);
    for (const id of ['c1', 'c2', 'c3']) await tokens.save(pair(id));
    const item = (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: 'CONNECTION#c1' } }))).Item!;
    // The item holds ciphertext only: no token, in any attribute.
    expect(JSON.stringify(item)).not.toMatch(/at_c1|rt_c1/);
    expect(Buffer.from(item.sealed.data).toString('utf8')).not.toContain('at_c1');

    const reader = new KmsEnvelope(kmsClient, KEY);
    const { tokens: found, invalid } = await store(reader).discover();
    expect(invalid).toEqual([]);
    expect(found.map((t) => [t.connectionId, t.token, t.refreshToken, t.location]).sort()).toEqual([
      ['c1', 'at_c1', 'rt_c1', 'c1'],
      ['c2', 'at_c2', 'rt_c2', 'c2'],
      ['c3', 'at_c3', 'rt_c3', 'c3'],
    ]);
    // Three pairs share the writer's data key: one GenerateDataKey, and one Decrypt for the reader.
    expect(envelope.calls).toEqual({ generateDataKey: 1, decrypt: 0 });
    expect(reader.calls).toEqual({ generateDataKey: 0, decrypt: 1 });
    await store(reader).discover();
    expect(reader.calls.decrypt).toBe(1);
  });

  it('seals under the data key the stored pairs share, across instances, for 30 days; a reader decrypts each key in use once an hour', async () => {
    let now = Date.parse('2026-12-03T00:00:00Z');
    const clock = { now: () => now };
    const first = new KmsEnvelope(kmsClient, KEY, clock);
    await store(first, clock).save(pair('c1'));
    expect(first.calls).toEqual({ generateDataKey: 1, decrypt: 0 });
    // Another instance, hours later: it reads the stored pairs and seals under their data key.
    now += 5 * DATA_KEY_CACHE_MS;
    const second = new KmsEnvelope(kmsClient, KEY, clock);
    await store(second, clock).save(pair('c2'));
    expect(second.calls).toEqual({ generateDataKey: 0, decrypt: 1 });
    expect((await itemOf('c2')).sealed.key).toEqual((await itemOf('c1')).sealed.key);
    // After 30 days that key seals nothing new: a third instance generates the next one.
    now = Date.parse('2026-12-03T00:00:00Z') + DATA_KEY_REUSE_MS;
    const third = new KmsEnvelope(kmsClient, KEY, clock);
    await store(third, clock).save(pair('c3'));
    expect(third.calls).toEqual({ generateDataKey: 1, decrypt: 1 });
    expect((await itemOf('c3')).sealed.key).not.toEqual((await itemOf('c1')).sealed.key);
    // A cold reader: one Decrypt per data key in use (two), whatever the number of pairs; again after its hour.
    const reader = new KmsEnvelope(kmsClient, KEY, clock);
    expect((await store(reader, clock).discover()).tokens).toHaveLength(3);
    expect(reader.calls.decrypt).toBe(2);
    now += DATA_KEY_CACHE_MS - 1;
    await store(reader, clock).discover();
    expect(reader.calls.decrypt).toBe(2);
    now += 1;
    await store(reader, clock).discover();
    expect(reader.calls.decrypt).toBe(4);
  });

  it('does not open a pair whose data key claims another creation time (the time is part of its encryption context)', async () => {
    await store().save(pair('c1'));
    await dynamo.doc.send(new UpdateCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: 'CONNECTION#c1' }, UpdateExpression: 'SET sealed.keyCreatedAt = :t', ExpressionAttributeValues: { ':t': '2030-01-01T00:00:00.000Z' } }));
    const { tokens, invalid } = await store().discover();
    expect(tokens).toEqual([]);
    expect(invalid).toEqual([{ name: 'c1', reason: expect.any(String) }]);
  });

  it('reports a pair moved to another connection, a tampered pair and a pair under another key as unusable, naming no token', async () => {
    const tokens = store();
    await tokens.save(pair('c1'));
    await tokens.save(pair('c2'));
    const c1 = (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: 'CONNECTION#c1' } }))).Item!;
    // c1's sealed pair copied into c2's item: bound to c1, it does not open there.
    await dynamo.doc.send(new UpdateCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: 'CONNECTION#c2' }, UpdateExpression: 'SET sealed = :s', ExpressionAttributeValues: { ':s': c1.sealed } }));
    await store(new KmsEnvelope(kmsClient, OTHER_KEY)).save(pair('c3'));
    const { tokens: found, invalid } = await store().discover();
    expect(found.map((t) => t.connectionId)).toEqual(['c1']);
    expect(invalid.map((i) => i.name).sort()).toEqual(['c2', 'c3']);
    expect(invalid.find((i) => i.name === 'c2')!.reason).toMatch(/does not open/);
    expect(invalid.find((i) => i.name === 'c3')!.reason).toMatch(/IncorrectKey|key ID/i);
    expect(JSON.stringify(invalid)).not.toMatch(/at_|rt_/);
    // Tampered ciphertext.
    const data = Buffer.from(c1.sealed.data);
    data[0] = data[0]! ^ 1;
    await dynamo.doc.send(new UpdateCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: 'CONNECTION#c1' }, UpdateExpression: 'SET sealed.#d = :d', ExpressionAttributeNames: { '#d': 'data' }, ExpressionAttributeValues: { ':d': data } }));
    expect((await store().discover()).tokens).toEqual([]);
  });

  it('writes a refreshed pair back, keeping the one it replaced as previous', async () => {
    const tokens = store();
    await tokens.save(pair('c1'));
    const [old] = (await tokens.discover()).tokens;
    await tokens.writeBack({ ...old!, token: 'at_new', refreshToken: 'rt_new' }, old);
    const [now] = (await tokens.discover()).tokens;
    expect([now!.token, now!.refreshToken]).toEqual(['at_new', 'rt_new']);
    const item = (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: 'TOKENS', sk: 'CONNECTION#c1' } }))).Item!;
    const previous = await new KmsEnvelope(kmsClient, KEY).open(item.previous, 'makini-connection-token:c1:previous');
    expect(JSON.parse(previous.toString('utf8'))).toMatchObject({ token: 'at_c1', refreshToken: 'rt_c1' });
  });

  it('a write-back KMS refuses keeps the refreshed pair in use, and writes it once KMS answers', async () => {
    await store().save(pair('c1'));
    // Its data key a month old: the write-back needs a new one, which KMS refuses.
    const now = Date.now() + DATA_KEY_REUSE_MS;
    const envelope = new KmsEnvelope(kmsClient, KEY, { now: () => now });
    const tokens = store(envelope, { now: () => now });
    const [old] = (await tokens.discover()).tokens;
    expect(envelope.calls.decrypt).toBe(1);
    kmsFault = 'GenerateDataKey';
    try {
      await expect(tokens.writeBack({ ...old!, token: 'at_new' }, old)).rejects.toThrow();
      // The table still holds the old pair; this store uses the new one (and fails to write it again).
      expect((await store().discover()).tokens[0]!.token).toBe('at_c1');
      expect((await tokens.discover()).tokens[0]!.token).toBe('at_new');
    } finally {
      kmsFault = undefined;
    }
    expect((await tokens.discover()).tokens[0]!.token).toBe('at_new');
    expect((await store().discover()).tokens[0]!.token).toBe('at_new');
  });

  // Found by the second adversarial review of 2026-12-03, each test failing before its fix.
  it('reports a secret the migration could not read among the unusable pairs, by name', async () => {
    const legacy: LegacyTokenSource = { discover: async () => ({ tokens: [{ ...pair('m1'), location: 'makini/connections/m1' }], invalid: [{ name: 'makini/connections/broken', reason: 'not JSON' }] }) };
    const { tokens, invalid } = await store(undefined, { legacy }).discover();
    expect(tokens.map((t) => t.connectionId)).toEqual(['m1']);
    expect(invalid).toEqual([{ name: 'makini/connections/broken', reason: 'not JSON' }]);
  });

  it('a removed connection stays removed: an unfinished migration does not copy its old secret back, nor does a write-back racing the removal', async () => {
    const legacy: LegacyTokenSource = { discover: async () => ({ tokens: [{ ...pair('m1'), location: 'makini/connections/m1' }], invalid: [{ name: 'makini/connections/broken', reason: 'not JSON' }] }) };
    const poller = store(undefined, { legacy });
    const [found] = (await poller.discover()).tokens;
    expect(found?.connectionId).toBe('m1');
    expect(await store().remove('m1')).toBe(true);
    expect(await store().remove('m1')).toBe(false);
    // The migration is still open (a secret unreadable): each discovery copies again what the table lacks.
    expect((await poller.discover()).tokens).toEqual([]);
    // A write-back refused by the tombstone is not a failure (nobody is paged): the pair goes with its connection.
    await expect(poller.writeBack({ ...found!, token: 'at_refreshed' }, found)).resolves.toBeUndefined();
    expect((await poller.discover()).tokens).toEqual([]);
    // Stored again on purpose: back.
    await store().save(pair('m1', 'at_again'));
    expect((await poller.discover()).tokens.map((t) => t.token)).toEqual(['at_again']);
  });

  // Found by the third adversarial review of 2026-12-03, each test failing before its fix.
  it('removing a connection the table does not hold writes nothing: its secret is still copied later', async () => {
    expect(await store().remove('m1')).toBe(false);
    const legacy: LegacyTokenSource = { discover: async () => ({ tokens: [{ ...pair('m1'), location: 'makini/connections/m1' }], invalid: [] }) };
    expect(await store().migrateFrom(legacy)).toMatchObject({ copied: ['m1'], removed: [] });
  });

  it('cold instances while the migration stays open seal under the stored pairs\' data key, not one each', async () => {
    let now = Date.parse('2026-12-03T00:00:00Z');
    const clock = { now: () => now };
    const legacy: LegacyTokenSource = { discover: async () => ({ tokens: [1, 2, 3, 4, 5, 6].map((i) => ({ ...pair(`m${i}`), location: `makini/connections/m${i}` })), invalid: [{ name: 'makini/connections/broken', reason: 'not JSON' }] }) };
    let generated = 0;
    for (let run = 1; run <= 6; run++) {
      now += DATA_KEY_CACHE_MS; // each run a cold instance
      const envelope = new KmsEnvelope(kmsClient, KEY, clock);
      const poller = store(envelope, { legacy, now: clock.now });
      const [first] = (await poller.discover()).tokens.filter((t) => t.connectionId === `m${run}`);
      await poller.writeBack({ ...first!, token: `at_refreshed_${run}` }, first);
      generated += envelope.calls.generateDataKey;
    }
    expect(generated).toBe(1);
    const reader = new KmsEnvelope(kmsClient, KEY, clock);
    expect((await store(reader, clock).discover()).tokens).toHaveLength(6);
    expect(reader.calls.decrypt).toBe(1);
  });

  it('the poller seals again a pair whose data key may seal nothing more (a bare token, never refreshed), so a year of them still opens with one or two Decrypts', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = { now: () => now };
    for (let month = 0; month < 12; month++) {
      now += DATA_KEY_REUSE_MS;
      // A bare token added this month (its own data key: the others' are too old to seal)...
      await store(new KmsEnvelope(kmsClient, KEY, clock), clock).save({ connectionId: `c${month}`, token: `at_bare_${month}` });
      // ...and the month's poll runs, on a cold instance.
      await store(new KmsEnvelope(kmsClient, KEY, clock), { ...clock, reseal: true }).discover();
    }
    const reader = new KmsEnvelope(kmsClient, KEY, clock);
    const { tokens, invalid } = await store(reader, clock).discover();
    expect([tokens.length, invalid]).toEqual([12, []]);
    expect(reader.calls.decrypt).toBeLessThanOrEqual(2);
    expect(tokens.map((t) => t.token).sort()).toEqual(Array.from({ length: 12 }, (_, m) => `at_bare_${m}`).sort());
  });

  // Found by the fourth adversarial review of 2026-12-03, failing before its fix.
  it('a re-seal gives way to a pair stored after it read the item, even under the same data key', async () => {
    const created = Date.parse('2026-01-01T00:00:00Z');
    let now = created;
    const clock = { now: () => now };
    await store(new KmsEnvelope(kmsClient, KEY, clock), clock).save(pair('c1', 'at_old'));
    now = created + DATA_KEY_REUSE_MS - 500;
    // The poller's discovery reads the items; then the operator stores a new pair under the same data
    // key (connections add), and the poller reaches c1 a second later, past the key's 30 days.
    let raced = false;
    const db = Object.create(dynamo.doc) as typeof dynamo.doc;
    db.send = (async (command: unknown, ...rest: unknown[]) => {
      const answer = await (dynamo.doc.send as (...a: unknown[]) => Promise<unknown>)(command, ...rest);
      if (!raced && command instanceof QueryCommand) {
        raced = true;
        await store(new KmsEnvelope(kmsClient, KEY, clock), clock).save(pair('c1', 'at_new'));
        now = created + DATA_KEY_REUSE_MS + 500;
      }
      return answer;
    }) as typeof db.send;
    await new DynamoDbConnectionTokens(db, new KmsEnvelope(kmsClient, KEY, clock), { tableName: dynamo.tableName, cacheSeconds: 0, reseal: true, now: clock.now }).discover();
    expect(raced).toBe(true);
    expect((await store(new KmsEnvelope(kmsClient, KEY, clock), clock).discover()).tokens.map((t) => t.token)).toEqual(['at_new']);
  });

  it('migrate with replace removes nothing when there is no secret at all (a wrong prefix, secrets just deleted)', async () => {
    await store().save(pair('c1'));
    const migration = await store().migrateFrom({ discover: async () => ({ tokens: [], invalid: [] }) }, { replace: true });
    expect(migration.dropped).toEqual([]);
    expect((await store().discover()).tokens.map((t) => t.connectionId)).toEqual(['c1']);
  });

  it('a migration that could not read every secret is not noted done: the unreadable one is copied at a later discovery', async () => {
    let calls = 0;
    const legacy = {
      discover: async () =>
        ++calls === 1 ? { tokens: [], invalid: [{ name: 'makini/connections/m3', reason: 'ThrottlingException' }] } : { tokens: [{ ...pair('m3'), location: 'makini/connections/m3' }], invalid: [] },
    };
    expect((await store(undefined, { legacy }).discover()).tokens).toEqual([]);
    expect((await store(undefined, { legacy }).discover()).tokens.map((t) => t.connectionId)).toEqual(['m3']);
    await store(undefined, { legacy }).discover();
    expect(calls).toBe(2);
  });

  describe('migration from Secrets Manager', () => {
    let sm: LocalSecretsManager;
    let smClient: SecretsManagerClient;
    beforeAll(async () => {
      sm = await startLocalSecretsManager({});
      smClient = new SecretsManagerClient({ endpoint: sm.url, maxAttempts: 1 });
      await smClient.send(new CreateSecretCommand({ Name: 'makini/connections/m1', SecretString: JSON.stringify(pair('m1', 'at_from_secret')) }));
      await smClient.send(new CreateSecretCommand({ Name: 'makini/connections/m2', SecretString: JSON.stringify(pair('m2', 'at_from_secret')) }));
      await smClient.send(new CreateSecretCommand({ Name: 'makini/connections/bad', SecretString: 'not json' }));
    });
    afterAll(async () => {
      smClient.destroy();
      await sm.close();
    });

    it('copies the pairs the table lacks, never overwrites one it has, and stops reading Secrets Manager once every secret was read', async () => {
      await store().save(pair('m2', 'at_in_table'));
      const legacy = new SecretsManagerConnectionTokens(smClient, { prefix: 'makini/connections/', cacheSeconds: 0 });
      const before = sm.calls.ListSecrets ?? 0;
      const tokens = store(undefined, { legacy });
      const first = await tokens.discover();
      expect(first.tokens.map((t) => [t.connectionId, t.token]).sort()).toEqual([
        ['m1', 'at_from_secret'],
        ['m2', 'at_in_table'],
      ]);
      // The unreadable secret keeps the migration open: every discovery looks again.
      await tokens.discover();
      expect((sm.calls.ListSecrets ?? 0) - before).toBe(2);
      await smClient.send(new DeleteSecretCommand({ SecretId: 'makini/connections/bad', ForceDeleteWithoutRecovery: true }));
      await tokens.discover();
      await tokens.discover();
      await store(undefined, { legacy }).discover();
      expect((sm.calls.ListSecrets ?? 0) - before).toBe(3);
      await smClient.send(new CreateSecretCommand({ Name: 'makini/connections/bad', SecretString: 'not json' }));
      // Repeating the migration by hand copies nothing more and reports the unreadable secret by name.
      const again = await store().migrateFrom(legacy);
      expect(again.copied).toEqual([]);
      expect([...again.present].sort()).toEqual(['m1', 'm2']);
      expect(again.invalid.map((i) => i.name)).toEqual(['makini/connections/bad']);
    });
  });
});
