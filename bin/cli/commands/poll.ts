/** `makini-webhooks poll`: run the poller now, on the local stack (its poll action) or a deployed stack (Lambda Invoke). */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { CloudFormationClient, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Command } from 'commander';
import type { PollRunSummary } from '../../../lambdas/poller/poller';
import { addJsonOption, addTargetOptions, json, localDir, localStack, noExtraArguments, rejectBothTargets, stackOutputs, START_LOCAL_STACK, subcommand, UsageError, type CommandContext, type TargetOptions } from '../shared';

/** How long `poll` waits for a run: Lambda's longest timeout, and a little more. */
const POLL_WAIT_MS = 16 * 60_000;

export function register(program: Command, { io, exit }: CommandContext): void {
  addTargetOptions(
    addJsonOption(
      subcommand(program, 'poll', 'run the poller now and print what it did')
        .usage('[--json] [--stack NAME | --local-dir D]')
        .description(
          "Runs the poller now, as its schedule would, and prints its summary: the mode (system or per-connection), connections found, polled, failed, events recovered, connections found deleted, tokens refreshed and refresh failures, and connections deferred to the next run (time budget). Reads the local stack started by 'npm start' (state in D, default .local or MAKINI_LOCAL_DIR), or with --stack invokes a deployed stack's poller function (found through CloudFormation, with your AWS credentials and region). Exits 1 if the run fails.",
        ),
      'print the summary as JSON',
    ),
  ).action(async (values: TargetOptions & { json?: boolean }, cmd: Command) => {
    noExtraArguments(cmd.args);
    rejectBothTargets(values);
    exit(await poll(values, io));
  });
}

async function poll(values: TargetOptions & { json?: boolean }, io: CommandContext['io']): Promise<number> {
  const fail = (line: string) => {
    io.stderr.write(`makini-webhooks: ${line}\n`);
    return 1;
  };
  const print = (summary: PollRunSummary, where: string) => {
    io.stdout.write(values.json ? json(summary) : describePollRun(summary, where));
    return 0;
  };

  if (values.stack !== undefined) {
    const functionName = await pollerFunction(values.stack);
    // The run may take the function's whole timeout (up to 15 minutes): wait that long, no longer.
    const lambda = new LambdaClient({ requestHandler: { requestTimeout: POLL_WAIT_MS } });
    try {
      const response = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: new TextEncoder().encode('{}') }));
      const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
      let payload: unknown;
      try {
        payload = text === '' ? undefined : JSON.parse(text);
      } catch {
        payload = undefined;
      }
      if (response.FunctionError) {
        const error = (payload ?? {}) as { errorType?: unknown; errorMessage?: unknown };
        const message = typeof error.errorMessage === 'string' ? error.errorMessage.split('\n')[0] : `${response.FunctionError} error`;
        return fail(`poll run of ${functionName} failed: ${typeof error.errorType === 'string' ? `${error.errorType}: ` : ''}${message}`);
      }
      if (!isPollSummary(payload)) return fail(`poll run of ${functionName} answered no run summary: is it the poller of ${values.stack}?`);
      return print(payload, `${values.stack} (${functionName})`);
    } finally {
      lambda.destroy();
    }
  }

  const dir = localDir(values.localDir);
  if (!existsSync(path.join(dir, 'stack.json'))) return fail(`no local stack in ${dir}/: start one with ${START_LOCAL_STACK} (or pass --local-dir, or --stack NAME for a deployed stack)`);
  const info = localStack(dir);
  if (!info.pollUrl) return fail(`the local stack in ${dir}/ predates 'poll': restart it with ${START_LOCAL_STACK}`);
  let response: Response;
  try {
    response = await fetch(info.pollUrl, { method: 'POST', headers: { 'user-agent': 'makini-webhooks-cli' }, signal: AbortSignal.timeout(POLL_WAIT_MS) });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') return fail(`the local stack in ${dir}/ is not running (nothing answers at ${new URL(info.pollUrl).origin}): start it with ${START_LOCAL_STACK}`);
    return fail(`could not reach the local stack at ${info.pollUrl}: ${cause?.code ?? (error as Error).message}`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    return fail(`poll run failed: ${typeof message === 'string' ? message.split('\n')[0] : `HTTP ${response.status}`}`);
  }
  if (!isPollSummary(body)) return fail(`the local stack answered no run summary (HTTP ${response.status})`);
  return print(body, `the local stack (${dir}/)`);
}

function isPollSummary(value: unknown): value is PollRunSummary {
  return typeof value === 'object' && value !== null && typeof (value as { mode?: unknown }).mode === 'string' && typeof (value as { polled?: unknown }).polled === 'number';
}

function describePollRun(summary: PollRunSummary, where: string): string {
  const n = (value: number | undefined) => value ?? 0;
  // The poller's skipped summary is all zeros: its counts (and its mode) say nothing of a run.
  if (summary.skipped) return `poll run on ${where}: skipped, ${summary.skipped}; nothing was polled\n`;
  return [
    `poll run on ${where}, ${summary.mode} mode`,
    `  connections       ${n(summary.connections)} (${n(summary.due)} due)`,
    `  polled            ${n(summary.polled)}`,
    `  failed            ${n(summary.failed)}${summary.unauthorized ? ` (${summary.unauthorized} unauthorized)` : ''}`,
    `  recovered         ${n(summary.recovered)} missed event(s)`,
    `  deleted           ${n(summary.deleted)}`,
    `  tokens refreshed  ${n(summary.tokensRefreshed)}`,
    `  refresh failed    ${n(summary.tokenRefreshFailed)}${summary.tokensExpiring ? ` (${summary.tokensExpiring} refresh token(s) expiring soon)` : ''}`,
    `  deferred          ${n(summary.deferred)}${summary.deferred ? ' (time budget spent: polled first next run)' : ''}`,
    ...(summary.shards ? [`  handed out        ${summary.shards} shard(s) of the ${n(summary.due)} due to poll workers, which poll them after this answer (not counted above)`] : []),
    '',
  ].join('\n');
}

/**
 * The deployed poller's function name: the stack's PollerFunctionName output if it has one, else
 * the AWS::Lambda::Function whose logical id is the construct's `Poller` (`…Poller` and CDK's 8-hex
 * hash, e.g. WebhooksPoller7CBF9AEA), not its log group, role or the log-retention helper.
 */
async function pollerFunction(stackName: string): Promise<string> {
  const outputs = await stackOutputs(stackName);
  if (outputs.PollerFunctionName) return outputs.PollerFunctionName;
  const cloudformation = new CloudFormationClient({});
  const functions: { logicalId: string; physicalId: string }[] = [];
  try {
    let NextToken: string | undefined;
    do {
      const page = await cloudformation.send(new ListStackResourcesCommand({ StackName: stackName, NextToken }));
      for (const r of page.StackResourceSummaries ?? []) {
        if (r.ResourceType === 'AWS::Lambda::Function' && r.LogicalResourceId && r.PhysicalResourceId) functions.push({ logicalId: r.LogicalResourceId, physicalId: r.PhysicalResourceId });
      }
      NextToken = page.NextToken;
    } while (NextToken);
  } finally {
    cloudformation.destroy();
  }
  const pollers = functions.filter((f) => /Poller[0-9A-F]{8}$/.test(f.logicalId));
  // Several: keep those beside a receiver of the same construct (a function of yours may be a "Poller" too).
  const ours = pollers.length > 1 ? pollers.filter((p) => functions.some((f) => f.logicalId.startsWith(`${p.logicalId.replace(/Poller[0-9A-F]{8}$/, '')}Receiver`))) : pollers;
  if (ours.length === 1) return ours[0].physicalId;
  if (ours.length === 0) throw new UsageError(`stack ${stackName} has no poller function: is it a makini-webhook-ingestion stack?`);
  throw new UsageError(`stack ${stackName} holds several poller functions (${ours.map((p) => p.logicalId).join(', ')}); give it a PollerFunctionName output`);
}
