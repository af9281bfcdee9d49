/**
 * IAM, locally: which policy decides each call the local endpoints receive.
 *
 * Each local function signs its SDK calls with an access key that names its role (the local
 * stack sets AWS_ACCESS_KEY_ID per function); every call is mapped to the IAM action and resource
 * ARN AWS would authorize (the service authorization reference: `sqs:SendMessage` on the queue,
 * `dynamodb:Query` on the index, `secretsmanager:GetSecretValue` on the secret, `events:PutEvents`
 * on the bus) and evaluated against that role's policies from the template. Calls signed with any
 * other key (the CLI, the local stack itself, your own scripts) are the account's administrator,
 * as your own credentials would be. Deliveries by services (CloudWatch, EventBridge) are evaluated
 * against the target's resource policy and, for encrypted targets, the key policy.
 */
import { evaluateAccess, type PolicyDocument } from './iam-policy';
import { AwsError } from './json-endpoint';

export interface ActionCheck {
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
}

export interface LocalRole {
  readonly arn: string;
  /** The session name in the assumed-role ARN (the function name, as on Lambda). */
  readonly sessionName: string;
  readonly policies: readonly PolicyDocument[];
}

/** Every request to the local endpoints arrives over loopback HTTP; it stands for the TLS AWS requires. */
const REQUEST_CONTEXT = { 'aws:SecureTransport': 'true' };

export class LocalIam {
  private readonly roles = new Map<string, LocalRole>();
  /** Denials so far, newest last (for tests and the log). */
  readonly denials: string[] = [];
  onDenied?: (message: string) => void;

  constructor(readonly accountId: string) {}

  /** Calls signed with `accessKeyId` act as `role`. */
  addRole(accessKeyId: string, role: LocalRole): void {
    this.roles.set(accessKeyId, role);
  }

  /**
   * The resource policy of a resource, by ARN (queue and topic policies): same-account calls are
   * allowed by the role's policies or by it, and denied by an explicit deny in either.
   */
  resourcePolicyOf: (arn: string) => PolicyDocument | undefined = () => undefined;

  /** The key policy of a KMS key, by ARN: a call on a key needs it to allow the call (directly, or the account so IAM may). */
  keyPolicyOf: (arn: string) => PolicyDocument | undefined = () => undefined;

  /** Throws AccessDeniedException unless the caller's role allows every check. */
  authorizeCall(accessKeyId: string | undefined, checks: readonly ActionCheck[]): void {
    const role = accessKeyId === undefined ? undefined : this.roles.get(accessKeyId);
    if (!role) return; // the administrator
    for (const check of checks) {
      const keyPolicy = this.keyPolicyOf(check.resource);
      const resourcePolicy = keyPolicy ?? this.resourcePolicyOf(check.resource);
      const decision = evaluateAccess(
        { principal: { kind: 'role', arn: role.arn, sessionName: role.sessionName }, action: check.action, resource: check.resource, context: { ...REQUEST_CONTEXT, ...check.context } },
        { accountId: this.accountId, identity: [...role.policies], ...(resourcePolicy && { resource: resourcePolicy }), ...(keyPolicy && { kmsKey: true }) },
      );
      if (!decision.allowed) this.deny(decision.message);
    }
  }

  /**
   * A service (e.g. `cloudwatch.amazonaws.com`) acting on a resource: the resource policy must
   * allow it, and for an encrypted resource the key policy must allow the service the KMS actions.
   */
  authorizeService(service: string, check: ActionCheck & { resourcePolicy?: PolicyDocument; key?: { arn: string; policy: PolicyDocument; actions: readonly string[] } }): void {
    const context = { ...REQUEST_CONTEXT, ...check.context };
    const resourcePolicy = check.resourcePolicy ?? this.resourcePolicyOf(check.resource);
    const decision = evaluateAccess({ principal: { kind: 'service', service }, action: check.action, resource: check.resource, context }, { accountId: this.accountId, ...(resourcePolicy && { resource: resourcePolicy }) });
    if (!decision.allowed) this.deny(decision.message);
    for (const action of check.key?.actions ?? []) {
      const keyDecision = evaluateAccess({ principal: { kind: 'service', service }, action, resource: check.key!.arn, context }, { accountId: this.accountId, resource: check.key!.policy, kmsKey: true });
      if (!keyDecision.allowed) this.deny(`${keyDecision.message} (needed to ${check.action} on ${check.resource})`);
    }
  }

  private deny(message: string): never {
    this.denials.push(message);
    this.onDenied?.(message);
    throw new AwsError('AccessDeniedException', message);
  }
}

/** The IAM action and resource of each local-endpoint call, as AWS authorizes them. */
export const CALL_CHECKS = {
  sqs(operation: string, input: Record<string, unknown>, queueArnOf: (url: string) => string | undefined): ActionCheck[] {
    const url = typeof input.QueueUrl === 'string' ? input.QueueUrl : undefined;
    const resource = url ? (queueArnOf(url) ?? `arn:aws:sqs:::${url.split('/').pop()}`) : '*';
    return [{ action: `sqs:${operation === 'SendMessageBatch' ? 'SendMessage' : operation === 'DeleteMessageBatch' ? 'DeleteMessage' : operation === 'ChangeMessageVisibilityBatch' ? 'ChangeMessageVisibility' : operation}`, resource }];
  },
  dynamodb(operation: string, input: Record<string, unknown>, tableArn: (table: string) => string): ActionCheck[] {
    if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
      // AWS authorizes each item's own action on its table (and no action named after the transaction).
      const itemAction: Record<string, string> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem', Get: 'GetItem' };
      return ((input.TransactItems as Record<string, { TableName?: string }>[] | undefined) ?? []).flatMap((item) =>
        Object.entries(item)
          .filter(([kind]) => kind in itemAction)
          .map(([kind, request]) => ({ action: `dynamodb:${itemAction[kind]}`, resource: tableArn(String(request.TableName)) })),
      );
    }
    const tables = typeof input.TableName === 'string' ? [input.TableName] : Object.keys((input.RequestItems as Record<string, unknown> | undefined) ?? {});
    const index = typeof input.IndexName === 'string' ? `/index/${input.IndexName}` : '';
    return tables.map((t) => ({ action: `dynamodb:${operation}`, resource: `${tableArn(t)}${index}` }));
  },
  secretsManager(operation: string, input: Record<string, unknown>, secretArnOf: (id: string) => string): ActionCheck[] {
    if (operation === 'BatchGetSecretValue') {
      // AWS also authorizes GetSecretValue on each secret asked for by id.
      const ids = (input.SecretIdList as string[] | undefined) ?? [];
      return [{ action: 'secretsmanager:BatchGetSecretValue', resource: '*' }, ...ids.map((id) => ({ action: 'secretsmanager:GetSecretValue', resource: secretArnOf(id) }))];
    }
    const id = typeof input.SecretId === 'string' ? input.SecretId : typeof input.Name === 'string' ? input.Name : undefined;
    return [{ action: `secretsmanager:${operation}`, resource: id === undefined ? '*' : secretArnOf(id) }];
  },
  kms(operation: string, input: Record<string, unknown>, keyArn: string): ActionCheck[] {
    // The encryption context is what key policies and grants condition on.
    const context = (input.EncryptionContext ?? {}) as Record<string, string>;
    return [{ action: `kms:${operation}`, resource: keyArn, context: { ...Object.fromEntries(Object.entries(context).map(([k, v]) => [`kms:EncryptionContext:${k}`, String(v)])), 'kms:EncryptionContextKeys': Object.keys(context) } }];
  },
  eventBridge(operation: string, input: Record<string, unknown>, busArn: (nameOrArn: string) => string): ActionCheck[] {
    if (operation !== 'PutEvents') return [{ action: `events:${operation}`, resource: '*' }];
    const buses = new Set(((input.Entries as { EventBusName?: string }[] | undefined) ?? []).map((e) => e.EventBusName ?? 'default'));
    return [...buses].map((b) => ({ action: 'events:PutEvents', resource: busArn(b) }));
  },
} as const;
