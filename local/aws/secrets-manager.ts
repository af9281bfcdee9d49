/**
 * A local Secrets Manager (AWS JSON 1.1) for development and tests: the operations this project
 * uses (RestoreSecret, GetSecretValue, ListSecrets, BatchGetSecretValue, CreateSecret, PutSecretValue,
 * DescribeSecret, UpdateSecretVersionStage, DeleteSecret), with the AWS behaviours our code relies
 * on: name-prefix filters, pagination, at most 20 ids per BatchGetSecretValue,
 * ResourceNotFoundException and ResourceExistsException, and secrets scheduled for deletion being
 * invisible.
 *
 * Versions are modelled as AWS keeps them, because the poller writes refreshed OAuth token pairs
 * back with PutSecretValue and relies on the previous pair staying readable:
 * - every secret holds versions, each with an id, a value, a creation time and staging labels;
 *   CreateSecret makes the first one AWSCURRENT;
 * - PutSecretValue makes a new version AWSCURRENT and moves AWSPREVIOUS to the version that was
 *   current; with VersionStages (say AWSPENDING) it attaches only those labels, taking each off
 *   whichever version had it;
 * - ClientRequestToken (32 to 64 characters) becomes the VersionId: repeating a token with the same
 *   value changes nothing and answers the existing version, with a different value it is refused
 *   (ResourceExistsException), as a version can't be modified;
 * - GetSecretValue reads by VersionId and/or VersionStage (AWSCURRENT by default);
 *   BatchGetSecretValue reads AWSCURRENT;
 * - UpdateSecretVersionStage moves or removes a label (moving one that is attached elsewhere needs
 *   RemoveFromVersionId naming its holder, as AWS insists), and moving AWSCURRENT gives AWSPREVIOUS
 *   to the version that had it;
 * - versions left without labels are deprecated: readable by VersionId, left out of DescribeSecret,
 *   and only the newest few are kept.
 * With `file`, secrets are kept on disk and survive restarts (files from before versions were kept,
 * one value per secret, are read as that value being AWSCURRENT). Reach it with
 * AWS_ENDPOINT_URL_SECRETS_MANAGER.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { StateFileError } from '../json-lines';
import { AwsError, startJsonEndpoint, type Fault, type JsonEndpoint } from './json-endpoint';

interface StoredVersion {
  readonly id: string;
  readonly value: string;
  readonly createdAt: number;
  /** Staging labels, in the order they were attached. */
  stages: string[];
}

interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  /** Oldest first. */
  versions: StoredVersion[];
  createdAt: number;
  lastChangedAt: number;
  deletedAt?: number;
}

/** A secret as files written before versions were kept hold it: one value and its version id. */
interface LegacySecret {
  name: string;
  arn: string;
  value: string;
  versionId?: string;
  createdAt: number;
  deletedAt?: number;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
/** Versions without labels kept per secret; AWS removes deprecated versions in the background. */
const DEPRECATED_KEPT = 10;
const suffix = () => randomUUID().replace(/-/g, '').slice(0, 6);

/** Reads a stored secret in either format, migrating the one-value format to versions. */
/** The stored secrets; a file that does not parse, or is not a list of secrets, is a StateFileError (which quotes none of it). */
function readStore(file: string | undefined): StoredSecret[] {
  if (!file || !existsSync(file)) return [];
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(stored) || !stored.every((s) => typeof s === 'object' && s !== null && typeof (s as StoredSecret).name === 'string')) throw new Error('not a list of secrets');
    return (stored as (StoredSecret | LegacySecret)[]).map(loadSecret);
  } catch {
    throw new StateFileError(file);
  }
}

function loadSecret(raw: StoredSecret | LegacySecret): StoredSecret {
  if (Array.isArray((raw as StoredSecret).versions)) {
    const s = raw as StoredSecret;
    return { ...s, lastChangedAt: s.lastChangedAt ?? s.createdAt, versions: s.versions.map((v) => ({ ...v, stages: [...(v.stages ?? [])] })) };
  }
  const legacy = raw as LegacySecret;
  return {
    name: legacy.name,
    arn: legacy.arn,
    versions: [{ id: legacy.versionId ?? randomUUID(), value: legacy.value, createdAt: legacy.createdAt, stages: [CURRENT] }],
    createdAt: legacy.createdAt,
    lastChangedAt: legacy.createdAt,
    ...(legacy.deletedAt !== undefined && { deletedAt: legacy.deletedAt }),
  };
}

export interface LocalSecretsManager extends JsonEndpoint {
  /** Secret values (AWSCURRENT) by name (live secrets only), for assertions. */
  values(): Record<string, string>;
  /** The ARN IAM authorizes a call on: the secret's, or for a secret that does not exist, its name's. */
  arnOf(id: string): string;
}

export async function startLocalSecretsManager(options: { port?: number; file?: string; fault?: (operation: string) => Fault | undefined; authorize?: Parameters<typeof startJsonEndpoint>[0]['authorize'] } = {}): Promise<LocalSecretsManager> {
  const secrets = new Map<string, StoredSecret>(readStore(options.file).map((s) => [s.name, s]));
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

  /** The version holding a label, if any. */
  const holder = (secret: StoredSecret, stage: string) => secret.versions.find((v) => v.stages.includes(stage));
  const versionById = (secret: StoredSecret, id: unknown) => secret.versions.find((v) => v.id === id);
  /** Attaches a label to one version, taking it off any other; AWSCURRENT leaves AWSPREVIOUS behind. */
  const attach = (secret: StoredSecret, stage: string, version: StoredVersion) => {
    const previous = holder(secret, stage);
    if (previous === version) return;
    if (previous) previous.stages = previous.stages.filter((s) => s !== stage);
    version.stages.push(stage);
    if (stage === CURRENT && previous) attach(secret, PREVIOUS, previous);
  };
  /** Forgets the oldest versions without labels beyond the few AWS would still have around. */
  const prune = (secret: StoredSecret) => {
    let excess = secret.versions.filter((v) => v.stages.length === 0).length - DEPRECATED_KEPT;
    if (excess > 0) secret.versions = secret.versions.filter((v) => v.stages.length > 0 || excess-- <= 0);
  };
  const versionIdsToStages = (secret: StoredSecret) => Object.fromEntries(secret.versions.filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages]]));

  const requestToken = (input: Record<string, unknown>): string => {
    const token = input.ClientRequestToken;
    if (token === undefined) return randomUUID();
    if (typeof token !== 'string' || token.length < 32 || token.length > 64) {
      throw new AwsError('ValidationException', "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64");
    }
    return token;
  };
  const secretString = (input: Record<string, unknown>): string => {
    if (typeof input.SecretString !== 'string') throw new AwsError('InvalidParameterException', 'SecretString is required by this local endpoint.');
    return input.SecretString;
  };
  const versionStages = (input: Record<string, unknown>): string[] | undefined => {
    const stages = input.VersionStages;
    if (stages === undefined) return undefined;
    if (!Array.isArray(stages) || stages.length < 1 || stages.length > 20 || !stages.every((s) => typeof s === 'string' && s.length >= 1 && s.length <= 256)) {
      throw new AwsError('ValidationException', "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have between 1 and 20 labels of 1 to 256 characters");
    }
    return [...new Set(stages as string[])];
  };
  const stageName = (value: unknown): string => {
    if (typeof value !== 'string' || value.length < 1 || value.length > 256) {
      throw new AwsError('ValidationException', "1 validation error detected: Value at 'versionStage' failed to satisfy constraint: Member must have length between 1 and 256");
    }
    return value;
  };

  /** The version a read asks for: by VersionId and/or VersionStage, AWSCURRENT when neither. */
  const selected = (secret: StoredSecret, input: Record<string, unknown>): StoredVersion => {
    const { VersionId: id, VersionStage: stage } = input;
    if (id !== undefined && stage !== undefined) {
      const version = versionById(secret, id);
      if (!version || !version.stages.includes(String(stage))) {
        throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${String(id)} and staging label: ${String(stage)}`);
      }
      return version;
    }
    if (id !== undefined) {
      const version = versionById(secret, id);
      if (!version) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${String(id)}`);
      return version;
    }
    const label = stage === undefined ? CURRENT : String(stage);
    const version = holder(secret, label);
    if (!version) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${label}`);
    return version;
  };
  const valueOf = (s: StoredSecret, v: StoredVersion) => ({ ARN: s.arn, Name: s.name, SecretString: v.value, VersionId: v.id, VersionStages: [...v.stages], CreatedDate: v.createdAt / 1000 });
  const currentOf = (s: StoredSecret) => valueOf(s, selected(s, {}));

  const endpoint = await startJsonEndpoint({
    service: 'secretsmanager',
    protocol: '1.1',
    port: options.port,
    fault: options.fault,
    authorize: options.authorize,
    operations: {
      CreateSecret(input) {
        const name = String(input.Name ?? '');
        if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) throw new AwsError('ValidationException', 'Invalid name.');
        const token = requestToken(input);
        const value = secretString(input);
        const existing = secrets.get(name);
        if (existing) {
          // A retried CreateSecret (same token, same value) is answered as the first one was.
          const version = existing.deletedAt ? undefined : versionById(existing, token);
          if (version && version.value === value) return { ARN: existing.arn, Name: name, VersionId: version.id };
          if (existing.deletedAt) throw new AwsError('InvalidRequestException', `You can't create this secret because a secret with this name is already scheduled for deletion.`);
          throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
        }
        const now = Date.now();
        const secret: StoredSecret = {
          name,
          arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${suffix()}`,
          versions: [{ id: token, value, createdAt: now, stages: [CURRENT] }],
          createdAt: now,
          lastChangedAt: now,
        };
        secrets.set(name, secret);
        persist();
        return { ARN: secret.arn, Name: name, VersionId: token };
      },
      PutSecretValue(input) {
        const secret = live(input.SecretId);
        const token = requestToken(input);
        const value = secretString(input);
        const stages = versionStages(input) ?? [CURRENT];
        const existing = versionById(secret, token);
        if (existing) {
          if (existing.value !== value) {
            throw new AwsError('ResourceExistsException', `A version with VersionId: ${token} already exists and its value differs from the one in this request; a version can't be modified.`);
          }
          return { ARN: secret.arn, Name: secret.name, VersionId: existing.id, VersionStages: [...existing.stages] };
        }
        const version: StoredVersion = { id: token, value, createdAt: Date.now(), stages: [] };
        secret.versions.push(version);
        for (const stage of stages) attach(secret, stage, version);
        secret.lastChangedAt = Date.now();
        prune(secret);
        persist();
        return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
      },
      GetSecretValue(input) {
        const secret = live(input.SecretId);
        return valueOf(secret, selected(secret, input));
      },
      DescribeSecret(input) {
        const s = find(input.SecretId);
        return {
          ARN: s.arn,
          Name: s.name,
          VersionIdsToStages: versionIdsToStages(s),
          CreatedDate: s.createdAt / 1000,
          LastChangedDate: s.lastChangedAt / 1000,
          ...(s.deletedAt !== undefined && { DeletedDate: s.deletedAt / 1000 }),
        };
      },
      UpdateSecretVersionStage(input) {
        const secret = live(input.SecretId);
        const stage = stageName(input.VersionStage);
        const { MoveToVersionId: moveTo, RemoveFromVersionId: removeFrom } = input;
        if (moveTo === undefined && removeFrom === undefined) {
          throw new AwsError('InvalidParameterException', 'You must specify MoveToVersionId, RemoveFromVersionId, or both.');
        }
        const target = moveTo === undefined ? undefined : versionById(secret, moveTo);
        if (moveTo !== undefined && !target) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret version: ${String(moveTo)}`);
        const source = removeFrom === undefined ? undefined : versionById(secret, removeFrom);
        if (removeFrom !== undefined && !source?.stages.includes(stage)) {
          throw new AwsError('InvalidParameterException', `The staging label ${stage} is not attached to version ${String(removeFrom)}.`);
        }
        const attachedTo = holder(secret, stage);
        if (target) {
          if (attachedTo && attachedTo !== target && attachedTo !== source) {
            throw new AwsError(
              'InvalidParameterException',
              `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${attachedTo.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
            );
          }
          attach(secret, stage, target);
        } else if (source) {
          if (stage === CURRENT) throw new AwsError('InvalidParameterException', `You can't remove the staging label ${CURRENT} from a version without moving it to another version (MoveToVersionId).`);
          source.stages = source.stages.filter((s) => s !== stage);
        }
        secret.lastChangedAt = Date.now();
        prune(secret);
        persist();
        return { ARN: secret.arn, Name: secret.name };
      },
      DeleteSecret(input) {
        const secret = find(input.SecretId);
        if (input.ForceDeleteWithoutRecovery === true) secrets.delete(secret.name);
        else secret.deletedAt = secret.lastChangedAt = Date.now();
        persist();
        return { ARN: secret.arn, Name: secret.name, DeletionDate: Date.now() / 1000 };
      },
      RestoreSecret(input) {
        const secret = find(input.SecretId);
        delete secret.deletedAt;
        secret.lastChangedAt = Date.now();
        persist();
        return { ARN: secret.arn, Name: secret.name };
      },
      ListSecrets(input) {
        const { items, NextToken } = page(matching(input.Filters), input, 100);
        return {
          SecretList: items.map((s) => ({ ARN: s.arn, Name: s.name, CreatedDate: s.createdAt / 1000, LastChangedDate: s.lastChangedAt / 1000, SecretVersionsToStages: versionIdsToStages(s) })),
          ...(NextToken && { NextToken }),
        };
      },
      BatchGetSecretValue(input) {
        if (input.SecretIdList !== undefined && input.Filters !== undefined) throw new AwsError('InvalidParameterException', 'Specify either SecretIdList or Filters, not both.');
        if (Array.isArray(input.SecretIdList)) {
          if (input.SecretIdList.length > 20) throw new AwsError('InvalidParameterException', 'SecretIdList holds at most 20 ids.');
          const values: unknown[] = [];
          const errors: unknown[] = [];
          for (const id of input.SecretIdList) {
            try {
              values.push(currentOf(live(id)));
            } catch (error) {
              errors.push({ SecretId: id, ErrorCode: (error as AwsError).type, Message: (error as Error).message });
            }
          }
          return { SecretValues: values, Errors: errors };
        }
        const { items, NextToken } = page(matching(input.Filters), input, 20);
        return { SecretValues: items.map(currentOf), Errors: [], ...(NextToken && { NextToken }) };
      },
    },
  });
  return {
    ...endpoint,
    arnOf: (id) => (id.startsWith('arn:') ? id : (secrets.get(id)?.arn ?? `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}`)),
    values: () => Object.fromEntries([...secrets.values()].filter((s) => !s.deletedAt).flatMap((s) => {
      const current = holder(s, CURRENT);
      return current ? [[s.name, current.value]] : [];
    })),
  };
}
