/**
 * `npm start`: the whole pipeline on this machine (see local/stack.ts).
 *
 *   npm start                # state in .local/, kept across restarts
 *   npm start -- --reset     # start from nothing
 *   npm start -- --from-source   # run the functions' TypeScript sources, not their synthesized bundles
 *   npm start -- --alarm-time-scale 60   # alarm periods 60 times shorter: a one-minute period lasts a second
 *   PORT=8080 MAKINI_WEBHOOK_SECRET=… npm start
 *   MAKINI_API_URL=https://api.makini.io MAKINI_CLIENT_ID=… MAKINI_CLIENT_SECRET=… npm start   # poll your real account
 */
import { ConfigError } from '../lambdas/config/config';
import { LocalStackRunningError, LocalStateError, startLocalStack } from '../local/stack';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const scaleAt = args.indexOf('--alarm-time-scale');
  const alarmTimeScale = scaleAt >= 0 ? Number(args[scaleAt + 1]) : 1;
  const unknown = args.filter((a, i) => a !== '--reset' && a !== '--from-source' && !(scaleAt >= 0 && (i === scaleAt || i === scaleAt + 1)));
  if (unknown.length > 0) {
    process.stderr.write(`npm start: unknown argument ${unknown.join(' ')} (only --reset, --from-source, --alarm-time-scale N)\n`);
    process.exit(2);
  }
  if (!(alarmTimeScale >= 1 && alarmTimeScale <= 3600)) {
    process.stderr.write('npm start: --alarm-time-scale takes a number from 1 to 3600 (60: a one-minute alarm period lasts a second)\n');
    process.exit(2);
  }
  const env = {
    // Handlers log warnings and errors only; this process prints one line per webhook.
    MAKINI_LOG_LEVEL: 'WARN',
    ...process.env,
  };
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`npm start: PORT must be a port number from 0 to 65535 (0: any free port), not ${JSON.stringify(process.env.PORT)}\n`);
    process.exit(2);
  }
  const dir = process.env.MAKINI_LOCAL_DIR ?? '.local';
  const stack = await startLocalStack({
    dir,
    port,
    env,
    reset: args.includes('--reset'),
    fromSource: args.includes('--from-source'),
    alarmTimeScale,
    log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
  });
  const { info } = stack;
  const secretArg = info.secretFile.startsWith('(') ? '"$MAKINI_WEBHOOK_SECRET"' : `"$(cat ${info.secretFile})"`;
  process.stdout.write(
    [
      'makini-webhook-ingestion: local stack running',
      `  webhook URL     ${info.webhookUrl}`,
      `  per connection  ${info.webhookUrlTemplate}`,
      `  secret          ${info.secretFile}  (scheme ${stack.config.signatureScheme})`,
      `  Makini API      ${info.makiniApiUrl}${info.makiniSimulator ? '  (bundled simulator)' : ''}, polled in ${info.pollMode} mode`,
      `  state           ${dir}/  (npm start -- --reset wipes it)`,
      `  try:            npx makini-webhooks send --url ${info.webhookUrl} --secret ${secretArg}`,
      `                  (a signed {"event":"assets.updated","body":[ids]}, as Makini sends it)`,
      `  then:           npx makini-webhooks status   |   npx makini-webhooks events`,
      `  poll now:       npx makini-webhooks poll   (or kill -USR2 ${process.pid})`,
      '',
    ].join('\n'),
  );
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    process.stdout.write(`\n${signal}: shutting down\n`);
    void stack.close().then(() => process.exit(0));
  };
  // `kill -USR2 <pid>` runs the poller now instead of waiting for its schedule.
  process.on('SIGUSR2', () => {
    void stack.pollNow().then(
      (summary) => process.stdout.write(`${new Date().toISOString()} poll run: ${JSON.stringify(summary)}\n`),
      (error: unknown) => process.stdout.write(`${new Date().toISOString()} poll run failed: ${(error as Error).message}\n`),
    );
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  // One clear line and an exit code; the stack trace only with DEBUG.
  const e = error as NodeJS.ErrnoException;
  let line = e.message ?? String(error);
  let code = 1;
  if (error instanceof ConfigError) [line, code] = [e.message.replace(/\n\s*/g, ' '), 2];
  else if (e.code === 'EADDRINUSE') [line, code] = [`port ${process.env.PORT ?? 3000} is in use; start with PORT=<another> (0 picks a free one)`, 2];
  else if (error instanceof LocalStateError) code = 2;
  else if (error instanceof LocalStackRunningError) code = 1;
  process.stderr.write(`npm start: ${line}\n`);
  if (process.env.DEBUG) process.stderr.write(`${e.stack ?? ''}\n`);
  process.exit(code);
});
