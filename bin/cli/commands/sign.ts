/** `makini-webhooks sign`: sign a body and print the signature headers. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { canonicalJson } from '../../../lambdas/core/json-body';
import { createSignatureScheme } from '../../../lambdas/core/signature';
import { addSigningOptions, json, noExtraArguments, readStdin, requireSecret, signingConfig, subcommand, UsageError, type CommandContext, type SigningOptions } from '../shared';

interface SignOptions extends SigningOptions {
  file?: string;
  canonical?: boolean;
  encoding?: string;
  prefix?: boolean;
  id?: string;
  timestamp?: string;
  lifecycle?: boolean;
  json?: boolean;
}

export function register(program: Command, { io, exit }: CommandContext): void {
  const command = subcommand(program, 'sign', 'sign a body and print the signature headers')
    .usage('[options] [--file F | < body]')
    .description(
      [
        "Signs the body byte for byte and prints the headers to send, one 'name: value' per line. With the makini scheme that is what Makini sends: X-Webhook-Signature, the base64 HMAC-SHA256 of the body.",
        '(Makini signs JSON.stringify of the parsed body: pass --canonical to sign that form of F.)',
      ].join('\n\n'),
    );
  addSigningOptions(command)
    .option('--file <F>', 'read the body from F (default: standard input)')
    .option('--canonical', 'makini scheme: sign JSON.stringify(JSON.parse(body)) instead of the bytes given')
    .option('--encoding <ENC>', 'makini scheme: base64 | hex (default: base64)')
    .option('--prefix', 'makini scheme: write sha256= before the digest, as GitHub does')
    .option('--id <ID>', 'standard-webhooks: webhook-id (default: random msg_…)')
    .option('--timestamp <UNIX>', 'standard-webhooks: webhook-timestamp in Unix seconds (default: now)')
    .option('--json', 'print the headers as one JSON object')
    .addOption(new Option('--lifecycle').hideHelp())
    .action(async (values: SignOptions, cmd: Command) => {
      noExtraArguments(cmd.args, { secret: true });
      if (values.lifecycle) throw new UsageError('--lifecycle is an option of send and simulate');
      const config = signingConfig(values);
      if (values.encoding !== undefined && values.encoding !== 'hex' && values.encoding !== 'base64') throw new UsageError('--encoding must be hex or base64');
      if (values.timestamp !== undefined && !/^\d{1,12}$/.test(values.timestamp)) throw new UsageError('--timestamp must be Unix seconds');
      const raw = values.file !== undefined ? readFileSync(values.file) : await readStdin(io.stdin);
      const body = values.canonical ? canonicalJson(raw) : raw;
      if (!body) throw new UsageError('--canonical needs a JSON body');
      const headers = createSignatureScheme(config).sign(body, requireSecret(values.secret), {
        id: values.id,
        timestamp: values.timestamp === undefined ? undefined : Number(values.timestamp),
        encoding: values.encoding as 'hex' | 'base64' | undefined,
        prefix: values.prefix,
      });
      io.stdout.write(values.json ? json(headers) : Object.entries(headers).map(([name, value]) => `${name}: ${value}\n`).join(''));
      exit(0);
    });
}
