import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';

const randomId = () => randomUUID();
const tempFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'local-sm-')), 'secrets.json');

let sm: LocalSecretsManager;
let client: SecretsManagerClient;
beforeEach(async () => {
  sm = await startLocalSecretsManager();
  client = new SecretsManagerClient({ endpoint: sm.url, maxAttempts: 1 });
});
afterEach(async () => {
  client.destroy();
  await sm.close();
});

describe('local Secrets Manager endpoint (through the AWS SDK)', () => {
  it('creates, reads, updates and deletes a secret by name or ARN', async () => {
    const { ARN } = await client.send(new CreateSecretCommand({ Name: 'makini/connections/c1', SecretString: 'v1' }));
    expect(ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:\d{12}:secret:makini\/connections\/c1-[a-z0-9]{6}$/);
    await client.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: 'v2' }));
    expect((await client.send(new GetSecretValueCommand({ SecretId: 'makini/connections/c1' }))).SecretString).toBe('v2');
    await client.send(new DeleteSecretCommand({ SecretId: 'makini/connections/c1' }));
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'makini/connections/c1' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
    expect(sm.values()).toEqual({});
  });

  it('answers AWS-style errors for missing and duplicate secrets', async () => {
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'nope' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'x' }));
    await expect(client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'y' }))).rejects.toMatchObject({ name: 'ResourceExistsException' });
  });

  it('lists by name prefix, page by page', async () => {
    for (let i = 0; i < 7; i++) await client.send(new CreateSecretCommand({ Name: `makini/connections/c${i}`, SecretString: String(i) }));
    await client.send(new CreateSecretCommand({ Name: 'other/secret', SecretString: 'x' }));
    const names: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['makini/connections/'] }], MaxResults: 3, NextToken }));
      names.push(...(page.SecretList ?? []).map((s) => s.Name ?? ''));
      NextToken = page.NextToken;
    } while (NextToken);
    expect(names).toEqual(Array.from({ length: 7 }, (_, i) => `makini/connections/c${i}`));
  });

  it('batch-gets at most 20 ids, reporting missing ones as errors', async () => {
    await client.send(new CreateSecretCommand({ Name: 'a', SecretString: '1' }));
    const result = await client.send(new BatchGetSecretValueCommand({ SecretIdList: ['a', 'missing'] }));
    expect(result.SecretValues?.map((v) => [v.Name, v.SecretString])).toEqual([['a', '1']]);
    expect(result.Errors?.map((e) => [e.SecretId, e.ErrorCode])).toEqual([['missing', 'ResourceNotFoundException']]);
    const ids = Array.from({ length: 21 }, (_, i) => `s${i}`);
    await expect(client.send(new BatchGetSecretValueCommand({ SecretIdList: ids }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
  });

  it('refuses operations it does not implement, as AWS would refuse an unknown one', async () => {
    await expect(client.send(new RotateSecretCommand({ SecretId: 'a' }))).rejects.toMatchObject({ name: 'UnknownOperationException' });
  });
});

describe('local Secrets Manager versions and staging labels (through the AWS SDK)', () => {
  const get = (input: { SecretId: string; VersionId?: string; VersionStage?: string }) => client.send(new GetSecretValueCommand(input));
  const stagesOf = async (SecretId: string) => (await client.send(new DescribeSecretCommand({ SecretId }))).VersionIdsToStages;

  it('keeps the previous version as AWSPREVIOUS after PutSecretValue', async () => {
    const created = await client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'pair-1' }));
    const first = await get({ SecretId: 'tokens' });
    expect(first).toMatchObject({ SecretString: 'pair-1', VersionId: created.VersionId, VersionStages: ['AWSCURRENT'] });

    const put = await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-2' }));
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect(put.VersionId).not.toBe(created.VersionId);
    expect(await get({ SecretId: 'tokens' })).toMatchObject({ SecretString: 'pair-2', VersionId: put.VersionId, VersionStages: ['AWSCURRENT'] });
    expect(await get({ SecretId: 'tokens', VersionStage: 'AWSPREVIOUS' })).toMatchObject({ SecretString: 'pair-1', VersionId: created.VersionId, VersionStages: ['AWSPREVIOUS'] });
    expect(await get({ SecretId: 'tokens', VersionId: created.VersionId })).toMatchObject({ SecretString: 'pair-1', VersionStages: ['AWSPREVIOUS'] });

    // A third value: AWSPREVIOUS follows, and the first version is left without labels.
    const third = await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-3' }));
    expect(await stagesOf('tokens')).toEqual({ [put.VersionId!]: ['AWSPREVIOUS'], [third.VersionId!]: ['AWSCURRENT'] });
    expect(await get({ SecretId: 'tokens', VersionId: created.VersionId })).toMatchObject({ SecretString: 'pair-1', VersionStages: [] });
    expect((await client.send(new BatchGetSecretValueCommand({ SecretIdList: ['tokens'] }))).SecretValues?.map((v) => [v.SecretString, v.VersionStages])).toEqual([['pair-3', ['AWSCURRENT']]]);
    expect(sm.values()).toEqual({ tokens: 'pair-3' });
  });

  it('answers ResourceNotFoundException for a version or label that is not there', async () => {
    const { VersionId } = await client.send(new CreateSecretCommand({ Name: 's', SecretString: 'v' }));
    await expect(get({ SecretId: 's', VersionStage: 'AWSPREVIOUS' })).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(get({ SecretId: 's', VersionId: 'f'.repeat(32) })).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(get({ SecretId: 's', VersionId, VersionStage: 'AWSPENDING' })).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect((await get({ SecretId: 's', VersionId, VersionStage: 'AWSCURRENT' })).SecretString).toBe('v');
  });

  it('stages a version as AWSPENDING only, then promotes it with UpdateSecretVersionStage', async () => {
    const created = await client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'pair-1' }));
    const pending = await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-2', VersionStages: ['AWSPENDING'] }));
    expect(pending.VersionStages).toEqual(['AWSPENDING']);
    expect((await get({ SecretId: 'tokens' })).SecretString).toBe('pair-1');
    expect((await get({ SecretId: 'tokens', VersionStage: 'AWSPENDING' })).SecretString).toBe('pair-2');

    // Another pending value takes the label; the one before is left without labels.
    const pending2 = await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-3', VersionStages: ['AWSPENDING'] }));
    expect(await stagesOf('tokens')).toEqual({ [created.VersionId!]: ['AWSCURRENT'], [pending2.VersionId!]: ['AWSPENDING'] });

    // Moving AWSCURRENT away from a version needs that version named, as AWS insists.
    await expect(client.send(new UpdateSecretVersionStageCommand({ SecretId: 'tokens', VersionStage: 'AWSCURRENT', MoveToVersionId: pending2.VersionId }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    await expect(client.send(new UpdateSecretVersionStageCommand({ SecretId: 'tokens', VersionStage: 'AWSCURRENT', RemoveFromVersionId: created.VersionId }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    await expect(client.send(new UpdateSecretVersionStageCommand({ SecretId: 'tokens', VersionStage: 'AWSCURRENT', MoveToVersionId: 'e'.repeat(32), RemoveFromVersionId: created.VersionId }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });

    await client.send(new UpdateSecretVersionStageCommand({ SecretId: 'tokens', VersionStage: 'AWSCURRENT', MoveToVersionId: pending2.VersionId, RemoveFromVersionId: created.VersionId }));
    expect(await get({ SecretId: 'tokens' })).toMatchObject({ SecretString: 'pair-3', VersionStages: ['AWSPENDING', 'AWSCURRENT'] });
    expect(await get({ SecretId: 'tokens', VersionStage: 'AWSPREVIOUS' })).toMatchObject({ SecretString: 'pair-1', VersionId: created.VersionId });

    await client.send(new UpdateSecretVersionStageCommand({ SecretId: 'tokens', VersionStage: 'AWSPENDING', RemoveFromVersionId: pending2.VersionId }));
    expect(await stagesOf('tokens')).toEqual({ [created.VersionId!]: ['AWSPREVIOUS'], [pending2.VersionId!]: ['AWSCURRENT'] });

    // Rolling back: AWSCURRENT returns to the previous version, which gives up AWSPREVIOUS.
    await client.send(new UpdateSecretVersionStageCommand({ SecretId: 'tokens', VersionStage: 'AWSCURRENT', MoveToVersionId: created.VersionId, RemoveFromVersionId: pending2.VersionId }));
    expect(await stagesOf('tokens')).toEqual({ [created.VersionId!]: ['AWSCURRENT'], [pending2.VersionId!]: ['AWSPREVIOUS'] });
    expect(sm.values()).toEqual({ tokens: 'pair-1' });
  });

  it('treats a repeated ClientRequestToken with the same value as the same request', async () => {
    const token = 'a'.repeat(32);
    const created = await client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'pair-1', ClientRequestToken: 'b'.repeat(40) }));
    expect(created.VersionId).toBe('b'.repeat(40));
    // A retried CreateSecret is answered as the first was.
    expect((await client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'pair-1', ClientRequestToken: 'b'.repeat(40) }))).VersionId).toBe('b'.repeat(40));

    const first = await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-2', ClientRequestToken: token }));
    const again = await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-2', ClientRequestToken: token }));
    expect(first).toMatchObject({ VersionId: token, VersionStages: ['AWSCURRENT'] });
    expect(again).toMatchObject({ VersionId: token, VersionStages: ['AWSCURRENT'] });
    // No new version: the first value is still AWSPREVIOUS.
    expect(await stagesOf('tokens')).toEqual({ ['b'.repeat(40)]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
    expect((await get({ SecretId: 'tokens', VersionStage: 'AWSPREVIOUS' })).SecretString).toBe('pair-1');
  });

  it('refuses a repeated ClientRequestToken with a different value, and tokens of the wrong length', async () => {
    const token = 'c'.repeat(36);
    await client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'pair-1' }));
    await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-2', ClientRequestToken: token }));
    await expect(client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'other', ClientRequestToken: token }))).rejects.toMatchObject({ name: 'ResourceExistsException' });
    await expect(client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'other', ClientRequestToken: token }))).rejects.toMatchObject({ name: 'ResourceExistsException' });
    expect((await get({ SecretId: 'tokens' })).SecretString).toBe('pair-2');
    await expect(client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'x', ClientRequestToken: 'short' }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'x', ClientRequestToken: 'd'.repeat(65) }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(client.send(new CreateSecretCommand({ Name: 'other', SecretString: 'x', ClientRequestToken: 'd'.repeat(31) }))).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('describes a secret: versions and labels, dates, and the deletion date once scheduled', async () => {
    const before = Date.now();
    const created = await client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'pair-1' }));
    const put = await client.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: 'pair-2' }));
    const described = await client.send(new DescribeSecretCommand({ SecretId: 'tokens' }));
    expect(described).toMatchObject({ ARN: created.ARN, Name: 'tokens', VersionIdsToStages: { [created.VersionId!]: ['AWSPREVIOUS'], [put.VersionId!]: ['AWSCURRENT'] } });
    expect(described.CreatedDate).toBeInstanceOf(Date);
    expect(described.CreatedDate!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(described.LastChangedDate!.getTime()).toBeGreaterThanOrEqual(described.CreatedDate!.getTime());
    expect(described.DeletedDate).toBeUndefined();

    await client.send(new DeleteSecretCommand({ SecretId: 'tokens' }));
    expect((await client.send(new DescribeSecretCommand({ SecretId: 'tokens' }))).DeletedDate).toBeInstanceOf(Date);
    await expect(client.send(new DescribeSecretCommand({ SecretId: 'missing' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('keeps only a few versions that have no labels left', async () => {
    const { VersionId: first } = await client.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'v0' }));
    const ids: string[] = [];
    for (let i = 1; i <= 15; i++) ids.push((await client.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: `v${i}` }))).VersionId!);
    await expect(get({ SecretId: 'tokens', VersionId: first })).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect((await get({ SecretId: 'tokens', VersionId: ids[12] })).SecretString).toBe('v13');
    expect(await stagesOf('tokens')).toEqual({ [ids[13]!]: ['AWSPREVIOUS'], [ids[14]!]: ['AWSCURRENT'] });
  });
});

describe('local Secrets Manager persistence', () => {
  it('keeps secrets on disk across restarts', async () => {
    const file = tempFile();
    const first = await startLocalSecretsManager({ file });
    const c1 = new SecretsManagerClient({ endpoint: first.url, maxAttempts: 1 });
    await c1.send(new CreateSecretCommand({ Name: 'kept', SecretString: 'v' }));
    c1.destroy();
    await first.close();

    const second = await startLocalSecretsManager({ file });
    const c2 = new SecretsManagerClient({ endpoint: second.url, maxAttempts: 1 });
    expect((await c2.send(new GetSecretValueCommand({ SecretId: 'kept' }))).SecretString).toBe('v');
    c2.destroy();
    await second.close();
  });

  /** Runs `body` against a fresh endpoint on `file`, closing both afterwards. */
  const withEndpoint = async <T>(file: string, body: (c: SecretsManagerClient) => Promise<T>): Promise<T> => {
    const endpoint = await startLocalSecretsManager({ file });
    const c = new SecretsManagerClient({ endpoint: endpoint.url, maxAttempts: 1 });
    try {
      return await body(c);
    } finally {
      c.destroy();
      await endpoint.close();
    }
  };

  it('keeps versions and labels on disk across restarts', async () => {
    const file = tempFile();
    const ids = await withEndpoint(file, async (c) => {
      const created = await c.send(new CreateSecretCommand({ Name: 'tokens', SecretString: 'pair-1' }));
      const put = await c.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-2' }));
      const pending = await c.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'pair-3', VersionStages: ['AWSPENDING'] }));
      return [created.VersionId!, put.VersionId!, pending.VersionId!] as const;
    });
    await withEndpoint(file, async (c) => {
      expect((await c.send(new DescribeSecretCommand({ SecretId: 'tokens' }))).VersionIdsToStages).toEqual({ [ids[0]]: ['AWSPREVIOUS'], [ids[1]]: ['AWSCURRENT'], [ids[2]]: ['AWSPENDING'] });
      expect((await c.send(new GetSecretValueCommand({ SecretId: 'tokens', VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('pair-1');
      expect((await c.send(new GetSecretValueCommand({ SecretId: 'tokens', VersionStage: 'AWSPENDING' }))).SecretString).toBe('pair-3');
      // The token of a stored version is still known after a restart.
      await expect(c.send(new PutSecretValueCommand({ SecretId: 'tokens', SecretString: 'changed', ClientRequestToken: ids[1] }))).rejects.toMatchObject({ name: 'ResourceExistsException' });
    });
  });

  it('reads a file written before versions were kept, and writes it back in the new form', async () => {
    const file = tempFile();
    const arn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:makini/connections/c1-abc123';
    const versionId = '11111111-2222-3333-4444-555555555555';
    const createdAt = Date.parse('2024-01-02T03:04:05Z');
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'makini/connections/c1', arn, value: 'old', versionId, createdAt },
        { name: 'gone', arn: `${arn}-gone`, value: 'x', versionId: randomId(), createdAt, deletedAt: createdAt + 1000 },
      ]),
    );
    const endpoint = await startLocalSecretsManager({ file });
    expect(endpoint.values()).toEqual({ 'makini/connections/c1': 'old' });
    await endpoint.close();

    const newId = await withEndpoint(file, async (c) => {
      expect(await c.send(new GetSecretValueCommand({ SecretId: arn }))).toMatchObject({ SecretString: 'old', VersionId: versionId, VersionStages: ['AWSCURRENT'] });
      const described = await c.send(new DescribeSecretCommand({ SecretId: 'makini/connections/c1' }));
      expect(described).toMatchObject({ ARN: arn, VersionIdsToStages: { [versionId]: ['AWSCURRENT'] } });
      expect(described.CreatedDate?.getTime()).toBe(createdAt);
      expect((await c.send(new DescribeSecretCommand({ SecretId: 'gone' }))).DeletedDate?.getTime()).toBe(createdAt + 1000);
      await expect(c.send(new GetSecretValueCommand({ SecretId: 'gone' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
      return (await c.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'new' }))).VersionId!;
    });

    const saved = JSON.parse(readFileSync(file, 'utf8')) as { name: string; versions?: { id: string; stages: string[] }[] }[];
    expect(saved.find((s) => s.name === 'makini/connections/c1')?.versions?.map((v) => [v.id, v.stages])).toEqual([
      [versionId, ['AWSPREVIOUS']],
      [newId, ['AWSCURRENT']],
    ]);
    await withEndpoint(file, async (c) => {
      expect((await c.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe('new');
      expect((await c.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('old');
    });
  });
});
