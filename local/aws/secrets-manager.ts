/**
 * A local Secrets Manager (AWS JSON 1.1) for development and tests: the operations this project
 * uses (GetSecretValue, ListSecrets, BatchGetSecretValue, CreateSecret, PutSecretValue,
 * DeleteSecret), with the AWS behaviours our code relies on: name-prefix filters, pagination,
 * at most 20 ids per BatchGetSecretValue, ResourceNotFoundException and ResourceExistsException,
 * and secrets scheduled for deletion being invisible. With `file`, secrets are kept on disk and
 * survive restarts. Reach it with AWS_ENDPOINT_URL_SECRETS_MANAGER.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AwsError, startJsonEndpoint, type Fault, type JsonEndpoint } from './json-endpoint';

interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  value: string;
  versionId: string;
  createdAt: number;
  deletedAt?: number;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const suffix = () => randomUUID().replace(/-/g, '').slice(0, 6);

export interface LocalSecretsManager extends JsonEndpoint {
  /** Secret values by name (live secrets only), for assertions. */
  values(): Record<string, string>;
}

export async function startLocalSecretsManager(options: { port?: number; file?: string; fault?: () => Fault | undefined } = {}): Promise<LocalSecretsManager> {
  const secrets = new Map<string, StoredSecret>(options.file && existsSync(options.file) ? (JSON.parse(readFileSync(options.file, 'utf8')) as StoredSecret[]).map((s) => [s.name, s]) : []);
  /** Rewrites the whole file atomically after every change: the store is small. */
  const persist = () => {
    if (!options.file) return;
    mkdirSync(path.dirname(options.file), { recursive: true });
    writeFileSync(`${options.file}.tmp`, JSON.stringify([...secrets.values()], null, 2), { mode: 0o600 });
    renameSync(`${options.file}.tmp`, options.file);
  };

  const find = (id: unknown): StoredSecret => {
    const key = String(id ?? '');
    const secret = secrets.get(key) ?? [...secrets.values()].find((s) => s.arn === key);
    if (!secret) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  };
  const live = (id: unknown): StoredSecret => {
    const secret = find(id);
    if (secret.deletedAt) throw new AwsError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");
    return secret;
  };
  const matching = (filters: unknown): StoredSecret[] => {
    const list = [...secrets.values()].filter((s) => !s.deletedAt).sort((a, b) => a.name.localeCompare(b.name));
    const conditions = (Array.isArray(filters) ? filters : []) as { Key?: string; Values?: string[] }[];
    for (const f of conditions) {
      if (f.Key !== 'name') throw new AwsError('InvalidParameterException', `filter key ${String(f.Key)} is not supported by this local endpoint`);
    }
    return list.filter((s) => conditions.every((f) => (f.Values ?? []).some((v) => s.name.startsWith(v))));
  };
  const page = <T>(items: T[], input: Record<string, unknown>, max: number) => {
    const size = Math.min(Number(input.MaxResults ?? max), max);
    const start = input.NextToken ? Number(Buffer.from(String(input.NextToken), 'base64').toString()) : 0;
    const next = start + size < items.length ? Buffer.from(String(start + size)).toString('base64') : undefined;
    return { items: items.slice(start, start + size), ...(next && { NextToken: next }) };
  };
  const valueOf = (s: StoredSecret) => ({ ARN: s.arn, Name: s.name, SecretString: s.value, VersionId: s.versionId, VersionStages: ['AWSCURRENT'], CreatedDate: s.createdAt / 1000 });

  const endpoint = await startJsonEndpoint({
    service: 'secretsmanager',
    protocol: '1.1',
    port: options.port,
    fault: options.fault,
    operations: {
      CreateSecret(input) {
        const name = String(input.Name ?? '');
        if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) throw new AwsError('ValidationException', 'Invalid name.');
        if (secrets.has(name)) throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
        if (typeof input.SecretString !== 'string') throw new AwsError('InvalidParameterException', 'SecretString is required by this local endpoint.');
        const secret: StoredSecret = { name, arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${suffix()}`, value: input.SecretString, versionId: randomUUID(), createdAt: Date.now() };
        secrets.set(name, secret);
        persist();
        return { ARN: secret.arn, Name: name, VersionId: secret.versionId };
      },
      PutSecretValue(input) {
        const secret = live(input.SecretId);
        if (typeof input.SecretString !== 'string') throw new AwsError('InvalidParameterException', 'SecretString is required by this local endpoint.');
        secret.value = input.SecretString;
        secret.versionId = randomUUID();
        persist();
        return { ARN: secret.arn, Name: secret.name, VersionId: secret.versionId, VersionStages: ['AWSCURRENT'] };
      },
      GetSecretValue: (input) => valueOf(live(input.SecretId)),
      DeleteSecret(input) {
        const secret = find(input.SecretId);
        if (input.ForceDeleteWithoutRecovery === true) secrets.delete(secret.name);
        else secret.deletedAt = Date.now();
        persist();
        return { ARN: secret.arn, Name: secret.name, DeletionDate: Date.now() / 1000 };
      },
      ListSecrets(input) {
        const { items, NextToken } = page(matching(input.Filters), input, 100);
        return { SecretList: items.map((s) => ({ ARN: s.arn, Name: s.name, CreatedDate: s.createdAt / 1000 })), ...(NextToken && { NextToken }) };
      },
      BatchGetSecretValue(input) {
        if (input.SecretIdList !== undefined && input.Filters !== undefined) throw new AwsError('InvalidParameterException', 'Specify either SecretIdList or Filters, not both.');
        if (Array.isArray(input.SecretIdList)) {
          if (input.SecretIdList.length > 20) throw new AwsError('InvalidParameterException', 'SecretIdList holds at most 20 ids.');
          const values: unknown[] = [];
          const errors: unknown[] = [];
          for (const id of input.SecretIdList) {
            try {
              values.push(valueOf(live(id)));
            } catch (error) {
              errors.push({ SecretId: id, ErrorCode: (error as AwsError).type, Message: (error as Error).message });
            }
          }
          return { SecretValues: values, Errors: errors };
        }
        const { items, NextToken } = page(matching(input.Filters), input, 20);
        return { SecretValues: items.map(valueOf), Errors: [], ...(NextToken && { NextToken }) };
      },
    },
  });
  return { ...endpoint, values: () => Object.fromEntries([...secrets.values()].filter((s) => !s.deletedAt).map((s) => [s.name, s.value])) };
}
