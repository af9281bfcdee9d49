/**
 * The cloud assembly the local stack runs: the stack synthesized exactly as `cdk deploy` would
 * synthesize it (same construct, same config, same bundles), cached by a hash of its inputs so that
 * later starts skip synthesis.
 *
 * The cache lives in `node_modules/.cache/makini-local/<hash>/`, or under MAKINI_LOCAL_ASSEMBLY_CACHE
 * (shared by every state directory and test run; written to a temporary directory and renamed, so
 * concurrent starts never see half an assembly).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import type { MakiniWebhookConfig } from '../lambdas/config/config';
import { MakiniWebhookStack } from '../lib/makini-webhook-stack';
import { settingsOf } from '../lib/settings';

const ROOT = path.join(__dirname, '..');
/** What the synthesized template depends on, besides the config. */
export const INPUTS = ['lib', 'lambdas', 'cdk.json', 'package-lock.json', 'tsconfig.json', 'local/cloud-assembly.ts'];
const cacheDir = () => process.env.MAKINI_LOCAL_ASSEMBLY_CACHE ?? path.join(ROOT, 'node_modules', '.cache', 'makini-local');
/** The stack name of the local assembly (the deployed default). */
export const LOCAL_STACK_NAME = 'MakiniWebhooks';

export interface CloudAssembly {
  /** The assembly directory (cdk.out layout). */
  readonly dir: string;
  /** The stack's CloudFormation template. */
  readonly template: CfnTemplate;
  /** Synthesized now (false: taken from the cache). */
  readonly synthesized: boolean;
  readonly hash: string;
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { readonly Value: unknown }>;
}

/**
 * The assembly for `config`: from the cache when its inputs are unchanged, else synthesized (with
 * the Lambda bundles built as `cdk synth` builds them).
 */
export function cloudAssemblyFor(config: MakiniWebhookConfig): CloudAssembly {
  const hash = inputHash(config);
  const CACHE_DIR = cacheDir();
  const dir = path.join(CACHE_DIR, hash);
  const templateFile = path.join(dir, `${LOCAL_STACK_NAME}.template.json`);
  let synthesized = false;
  if (!existsSync(templateFile)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
    const context = (JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
    // Asset and path metadata, as the CDK CLI asks for them: they map functions to bundles and sources.
    const app = new App({ outdir: tmp, context: { ...context, 'aws:cdk:enable-asset-metadata': true, 'aws:cdk:enable-path-metadata': true } });
    new MakiniWebhookStack(app, LOCAL_STACK_NAME, { config: settingsOf(config) });
    app.synth();
    try {
      renameSync(tmp, dir);
    } catch (error) {
      // Another process finished the same assembly first: keep theirs.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(templateFile)) throw error;
    }
    synthesized = true;
    pruneCache(CACHE_DIR, hash);
  }
  return { dir, template: JSON.parse(readFileSync(templateFile, 'utf8')) as CfnTemplate, synthesized, hash };
}

/** A hash of every input file's path and content, and of the config. */
export function inputHash(config: MakiniWebhookConfig, root = ROOT): string {
  const hash = createHash('sha256');
  const visit = (relative: string) => {
    const file = path.join(root, relative);
    if (!existsSync(file)) return;
    if (statSync(file).isDirectory()) {
      for (const entry of readdirSync(file).sort()) visit(path.join(relative, entry));
      return;
    }
    hash.update(relative).update('\0').update(readFileSync(file)).update('\0');
  };
  for (const input of INPUTS) visit(input);
  hash.update(JSON.stringify(config));
  return hash.digest('hex').slice(0, 20);
}

/** Keeps the newest few assemblies: each holds three bundles (~1 MB each with source maps). */
function pruneCache(CACHE_DIR: string, keep: string): void {
  const entries = readdirSync(CACHE_DIR)
    .filter((e) => e !== keep && !e.endsWith('.tmp'))
    .map((e) => ({ e, mtime: statSync(path.join(CACHE_DIR, e)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { e } of entries.slice(4)) rmSync(path.join(CACHE_DIR, e), { recursive: true, force: true });
}
