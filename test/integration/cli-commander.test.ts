/**
 * The CLI's conventions (issue 16): --version, help and usage errors (exit 2), one-line errors
 * (exit 1, a stack trace only with DEBUG), --json on every read command, and progress bars that
 * show only on a terminal. In-process through `main` with injected streams, so a test can make
 * them look like a terminal; the launcher itself for --version.
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { DeleteItemCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { main } from '../../bin/cli';
import { progressBar } from '../../bin/cli/progress';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { cli } from '../support/run-cli';

const VERSION = (JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
const ERASE_LINE = '\r\x1b[2K';

/** A writable that keeps what it is given; `tty` makes it look like a terminal. */
function sink(tty: boolean) {
  let text = '';
  const stream = Object.assign(new Writable({ write: (chunk, _encoding, done) => ((text += String(chunk)), done()) }), { isTTY: tty, columns: 100 });
  return { stream, text: () => text };
}

/** Runs `main` in this process; `tty` makes standard output and error terminals. */
async function run(args: string[], options: { tty?: boolean; stdin?: string } = {}) {
  const stdout = sink(options.tty ?? false);
  const stderr = sink(options.tty ?? false);
  const stdin = new PassThrough();
  stdin.end(options.stdin ?? '');
  const code = await main(args, { stdout: stdout.stream, stderr: stderr.stream, stdin });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('--version and help', () => {
  it('prints the package version with --version and -V, exit 0 (the launcher too)', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(await run(['-V'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('prints the overview on stdout: exit 0 when asked for, 2 with no command', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const { code, stdout, stderr } = await run(args);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toMatch(/^Usage: makini-webhooks <command> \[options\]/);
      for (const command of ['sign', 'send', 'simulate', 'connections', 'poll', 'dlq', 'replay', 'health', 'status', 'events', 'bus']) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    const bare = await run([]);
    expect(bare).toMatchObject({ code: 2, stderr: '' });
    expect(bare.stdout).toMatch(/^Usage: makini-webhooks/);
  });

  it.each([['dlq', 'list'], ['dlq', 'redrive'], ['connections', 'add'], ['connections', 'list'], ['connections', 'remove'], ['help', 'status']])('prints the help of %s %s, exit 0', async (...args) => {
    const { code, stdout } = await run(args[0] === 'help' ? args : [...args, '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: makini-webhooks ${args[0] === 'help' ? args[1] : args.join(' ')} `));
  });

  it('a command group without its action prints its help and exits 2', async () => {
    for (const group of ['dlq', 'connections']) {
      const { code, stdout, stderr } = await run([group]);
      expect({ code, stderr }).toEqual({ code: 2, stderr: '' });
      expect(stdout).toMatch(new RegExp(`^Usage: makini-webhooks ${group} `));
    }
  });
});

describe('usage errors: one line, exit 2', () => {
  it.each([
    [['sign', '--secret', 's', '--bogus'], /^makini-webhooks: unknown option '--bogus' \(see 'makini-webhooks sign --help'\)\n$/],
    [['sign', '--secet', 's'], /unknown option '--secet' \(Did you mean --secret\?\)/],
    [['frobnicate'], /^makini-webhooks: unknown command 'frobnicate' \(see 'makini-webhooks --help'\)\n$/],
    [['stauts'], /unknown command 'stauts' \(Did you mean status\?\)/],
    [['send', '--url'], /^makini-webhooks: option '--url <URL>' argument missing/],
    [['send', '--secret', 's'], /^makini-webhooks: required option '--url <URL>' not specified \(see 'makini-webhooks send --help'\)\n$/],
    [['simulate', '--secret', 's'], /^makini-webhooks: required option '--url <URL>' not specified \(see 'makini-webhooks simulate --help'\)\n$/],
    [['poll', 'now'], /^makini-webhooks: unexpected arguments: now\n$/],
    [['dlq', 'purge'], /^makini-webhooks: use dlq list or dlq redrive\n$/],
    [['connections', 'rename', 'c1'], /unknown connections action 'rename'/],
    [['events', '--limit', '0', '--local-dir', '/nonexistent'], /--limit must be a whole number from 1 to 10000/],
    [['status', '--stack', 'S', '--local-dir', 'D'], /give --stack or --local-dir, not both/],
    [['replay', 'wh_1', '--since', '2026-01-01T00:00:00Z', '--local-dir', '/nonexistent'], /^makini-webhooks: --since goes with --connection C: a webhook id is replayed on its own\n$/],
    [['status', '--local-dir', '/nonexistent/mw'], /no local stack in \/nonexistent\/mw\//],
    [['simulate', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--duplicates', '2'], /--duplicates must be a number from 0 to 1/],
  ])('%j', async (args, message) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('never prints a secret or token given in the wrong place', async () => {
    const cases = [
      ['sign', '--secret', 's', 'whsec_hunter2_secret'],
      ['sign', '--secrt=whsec_hunter2_secret'],
      ['send', '--url', 'http://127.0.0.1:9/webhooks', 'whsec_hunter2_secret'],
      ['connections', 'add', 'conn_1', 'whsec_hunter2_secret'],
    ];
    for (const args of cases) {
      const { code, stdout, stderr } = await run(args, { stdin: 'tok' });
      expect(code).toBe(2);
      expect(stdout + stderr).not.toContain('hunter2');
      expect(stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('failures: one line, exit 1, the stack trace only with DEBUG', () => {
  const saved = process.env.DEBUG;
  afterEach(() => {
    if (saved === undefined) delete process.env.DEBUG;
    else process.env.DEBUG = saved;
  });

  it('prints one line without DEBUG, and the stack trace with it', async () => {
    delete process.env.DEBUG;
    const quiet = await run(['sign', '--secret', 's', '--file', '/nonexistent/body.json']);
    expect(quiet).toMatchObject({ code: 1, stdout: '' });
    expect(quiet.stderr).toMatch(/^makini-webhooks: ENOENT: no such file or directory, open '\/nonexistent\/body\.json'\n$/);

    process.env.DEBUG = '1';
    const loud = await run(['sign', '--secret', 's', '--file', '/nonexistent/body.json']);
    expect(loud.code).toBe(1);
    expect(loud.stderr.split('\n')[0]).toBe("makini-webhooks: ENOENT: no such file or directory, open '/nonexistent/body.json'");
    expect(loud.stderr).toMatch(/\n\s+at /);
  });
});

describe('--json on the read commands, and progress bars only on a terminal', () => {
  const savedEnv = { ...process.env };
  let stack: LocalStack;
  let dir: string;
  let receiver: Server;
  let receiverUrl: string;
  beforeAll(async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    dir = mkdtempSync(path.join(tmpdir(), 'mw-commander-'));
    stack = await startLocalStack({ dir, port: 0, env: { MAKINI_LOG_LEVEL: 'ERROR' } });
    // A receiver that acknowledges everything, for simulate.
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"received":true,"webhookId":"x"}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    await stack?.close();
    process.env = { ...savedEnv };
  });

  it.each(['status', 'events', 'health', 'bus', 'dlq list', 'connections list', 'poll', 'replay', 'simulate', 'sign', 'send', 'dlq redrive'])('%s takes --json', async (command) => {
    const { stdout } = await run([...command.split(' '), '--help']);
    expect(stdout).toMatch(/^ {2}--json /m);
  });

  it('status, events, health, bus, dlq list, connections list and poll print JSON with --json', async () => {
    const sent = await run(['send', '--lifecycle', '--url', stack.info.webhookUrl, '--secret', stack.webhookSecret, '--type', 'connection.status_changed', '--connection', 'conn_json', '--id', 'evt_json_1']);
    expect(sent.code).toBe(0);
    // The bus is the pipeline's last step (history is claimed first, then the connection's state is
    // written, then the event published): once it is on the bus, every read below sees it.
    await waitFor(async () => JSON.parse((await run(['bus', '--json', '--local-dir', dir])).stdout).length > 0);

    const read = async (...args: string[]) => {
      const { code, stdout, stderr } = await run([...args, '--json', '--local-dir', dir]);
      expect({ args, code, stderr }).toEqual({ args, code: 0, stderr: '' });
      return JSON.parse(stdout) as unknown;
    };
    expect(await read('status')).toEqual(expect.arrayContaining([expect.objectContaining({ connectionId: 'conn_json' })]));
    expect(await read('events')).toEqual([expect.objectContaining({ webhookId: 'evt_json_1', event: expect.objectContaining({ type: 'connection.status_changed' }) })]);
    expect(await read('health')).toMatchObject({ target: 'local stack', deadLetterQueue: 0 });
    expect(await read('bus')).toEqual([expect.objectContaining({ 'detail-type': 'connection.status_changed' })]);
    expect(await read('dlq', 'list')).toEqual([]);
    expect(await read('poll')).toMatchObject({ mode: 'system' });
    // connections list reads the local stack's token store (the table, by default).
    const listed = await run(['connections', 'list', '--json', '--local-dir', dir]);
    expect(listed.code).toBe(0);
    expect(Array.isArray(JSON.parse(listed.stdout))).toBe(true);

    // Without --json: tables, not JSON.
    expect((await run(['status', '--local-dir', dir])).stdout).toMatch(/^connectionId\s+status/);
  });

  it('simulate: a progress bar on stderr on a terminal, nothing extra when piped or with --no-progress', async () => {
    const args = ['simulate', '--url', receiverUrl, '--secret', 's', '--connections', '3', '--events', '4', '--duplicates', '0'];
    const piped = await run(args);
    expect(piped).toMatchObject({ code: 0, stderr: '' });
    expect(piped.stdout).toMatch(/^sent 12, acknowledged 12, retried 0, failed 0; latency p50 [\d.]+ ms, p99 [\d.]+ ms\n$/);

    const terminal = await run(args, { tty: true });
    expect(terminal.code).toBe(0);
    expect(terminal.stdout).toMatch(/^sent 12, acknowledged 12, /);
    expect(terminal.stderr).toContain(`${ERASE_LINE}simulate [`);
    expect(terminal.stderr).toMatch(/12\/12 requests/);
    expect(terminal.stderr.endsWith(ERASE_LINE)).toBe(true); // cleared when done

    expect(await run([...args, '--no-progress'], { tty: true })).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse((await run([...args, '--json'])).stdout)).toMatchObject({ sent: 12, acknowledged: 12, failed: 0 });
  });

  it('replay: a progress bar on a terminal only; --json prints the outcome', async () => {
    const args = ['replay', '--connection', 'conn_json', '--since', '2000-01-01T00:00:00Z', '--local-dir', dir];
    const piped = await run(args);
    expect(piped).toEqual({ code: 0, stdout: `replayed 1 event(s) to ${stack.info.eventBusName}\n`, stderr: '' });
    const terminal = await run(args, { tty: true });
    expect(terminal).toMatchObject({ code: 0, stdout: `replayed 1 event(s) to ${stack.info.eventBusName}\n` });
    expect(terminal.stderr).toContain(`${ERASE_LINE}replay [`);
    expect(terminal.stderr.endsWith(ERASE_LINE)).toBe(true);
    expect(JSON.parse((await run([...args, '--json'])).stdout)).toEqual({ eventBusName: stack.info.eventBusName, replayed: 1, rejected: 0 });
  });

  it('replay: an event whose body, kept in an item of its own, is gone is named, not replayed, and fails the command', async () => {
    const ids = Array.from({ length: 25 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`).join(',');
    expect((await run(['send', '--url', `${stack.info.webhookUrl}/conn_gone`, '--secret', stack.webhookSecret, '--ids', ids])).code).toBe(0);
    let webhookId = '';
    await waitFor(async () => {
      const listed = JSON.parse((await run(['events', '--connection', 'conn_gone', '--json', '--local-dir', dir])).stdout) as { webhookId: string }[];
      webhookId = listed[0]?.webhookId ?? '';
      return webhookId !== '';
    });
    const db = new DynamoDBClient({ endpoint: stack.info.endpoints.dynamodb, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      const key = (sk: string) => ({ pk: { S: `WEBHOOK#${webhookId}` }, sk: { S: sk } });
      // Completed (the consumer marks it once the bus has it), with its body in an item of its own.
      await waitFor(async () => (await db.send(new GetItemCommand({ TableName: stack.info.tableName, Key: key('WEBHOOK'), ConsistentRead: true }))).Item?.status?.S === 'DONE');
      expect((await db.send(new DeleteItemCommand({ TableName: stack.info.tableName, Key: key('BODY'), ReturnValues: 'ALL_OLD' }))).Attributes).toBeDefined();
    } finally {
      db.destroy();
    }
    const args = ['replay', webhookId, '--local-dir', dir];
    expect(await run(args)).toEqual({ code: 1, stdout: `replayed 0 event(s) to ${stack.info.eventBusName}; 1 not replayed: their stored body is gone (expired)\n`, stderr: '' });
    expect(JSON.parse((await run([...args, '--json'])).stdout)).toEqual({ eventBusName: stack.info.eventBusName, replayed: 0, rejected: 0, bodyMissing: 1 });
  });

  it('dlq redrive: the same lines on stdout, a progress bar on stderr on a terminal only', async () => {
    const args = ['dlq', 'redrive', '--local-dir', dir];
    const piped = await run(args);
    expect(piped).toMatchObject({ code: 0, stderr: '' });
    expect(piped.stdout).toMatch(/^redriving 0 message\(s\) from the dead-letter queue of local stack\n {2}COMPLETED: 0 of 0 moved\n$/);
    const terminal = await run(args, { tty: true });
    expect(terminal.stdout).toBe(piped.stdout);
    expect(terminal.stderr).toContain(`${ERASE_LINE}redrive `);
    expect(terminal.stderr.endsWith(ERASE_LINE)).toBe(true);
    expect(JSON.parse((await run([...args, '--json'])).stdout)).toEqual({ target: 'local stack', status: 'COMPLETED', moved: 0, toMove: 0, failureReason: null });
  });
});

describe('progressBar', () => {
  it('draws nothing unless both outputs are terminals', () => {
    for (const [out, err] of [[false, false], [true, false], [false, true]]) {
      const stdout = sink(out);
      const stderr = sink(err);
      const bar = progressBar({ stdout: stdout.stream, stderr: stderr.stream }, 'x');
      bar.update(1, 2);
      bar.print('line\n');
      bar.finish();
      expect({ enabled: bar.enabled, stdout: stdout.text(), stderr: stderr.text() }).toEqual({ enabled: false, stdout: 'line\n', stderr: '' });
    }
  });

  it('redraws at most ten times a second, always at the end, and keeps printed lines clear of the bar', () => {
    let now = 0;
    const stdout = sink(true);
    const stderr = sink(true);
    const bar = progressBar({ stdout: stdout.stream, stderr: stderr.stream }, 'job', { now: () => now });
    bar.update(0, 4);
    bar.update(1); // within 100 ms: not drawn
    now = 150;
    bar.update(2);
    bar.print('halfway\n');
    bar.update(4); // the last: drawn at once
    bar.finish();
    const frames = stderr.text().split(ERASE_LINE).filter((f) => f !== '');
    expect(frames.map((f) => f.replace(/\[[#-]+\] /, ''))).toEqual(['job 0/4', 'job 2/4', 'job 2/4', 'job 4/4']);
    expect(stdout.text()).toBe('halfway\n');
    expect(stderr.text().endsWith(ERASE_LINE)).toBe(true);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}
