/**
 * Reads the synthesized CloudFormation template into what the local stack builds: functions,
 * queues, event source mappings, schedules, rules, topics, keys, policies, alarms, the table, the
 * secrets and the API routes, with every CloudFormation intrinsic resolved against the local
 * resources' physical names and ARNs.
 *
 * The local stack gives each resource what CloudFormation's `Ref` and `Fn::GetAtt` return for
 * its type (a queue's Ref is its URL, a secret's its ARN, a table's its name, ...), and
 * local/aws/cfn-intrinsics.ts resolves the rest.
 */
import type { CfnResource, CfnTemplate } from './cloud-assembly';

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

/** What a resource resolves to: its `Ref` and its `Fn::GetAtt` attributes. */
export interface PhysicalResource {
  readonly ref: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** The template's resources of one type, as `[logicalId, resource]` pairs. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The logical id a `Ref` or `Fn::GetAtt` (before resolution) points at. */
export function referencedId(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return v.Ref;
  const att = v['Fn::GetAtt'];
  if (Array.isArray(att)) return String(att[0]);
  if (typeof att === 'string') return att.split('.')[0];
  return undefined;
}

/** The construct id of a resource: `Receiver` for `MakiniWebhooks/Webhooks/Receiver/Resource`. */
export function constructId(resource: CfnResource): string | undefined {
  const cdkPath = resource.Metadata?.['aws:cdk:path'];
  if (typeof cdkPath !== 'string') return undefined;
  const parts = cdkPath.split('/');
  return parts[parts.length - 1] === 'Resource' ? parts[parts.length - 2] : parts[parts.length - 1];
}
