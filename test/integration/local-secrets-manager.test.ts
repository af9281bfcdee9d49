import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';

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

describe('local Secrets Manager persistence', () => {
  it('keeps secrets on disk across restarts', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'local-sm-')), 'secrets.json');
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
});
