import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { resolveConfig, type MakiniWebhookConfig } from '../../lib/config';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { MAKINI_EVENT_TYPES } from '../../lambdas/core/event-types';
import { NOTIFICATION_EVENTS } from '../../local/sample-events';
import { createReceiverHandler } from '../../lambdas/receiver/receiver';
import { startHttpApi, type HttpApi } from '../../local/http-api';
import { cli } from '../support/run-cli';

const SECRET = 'cli-test-secret-5b2e';

describe('makini-webhooks sign', () => {
  it('signs standard input byte for byte, trailing newline and invalid UTF-8 included', async () => {
    const body = Buffer.concat([Buffer.from('{"a":1}\n'), Buffer.from([0xff, 0x00, 0x0d, 0x0a])]);
    const { code, stdout } = await cli(['sign', '--secret', SECRET], body);
    expect(code).toBe(0);
    expect(stdout).toBe(`x-webhook-signature: ${createHmac('sha256', SECRET).update(body).digest('base64')}\n`);
  });

  it("signs as Makini does: base64 of JSON.stringify of the parsed body, with --canonical", async () => {
    const { stdout } = await cli(['sign', '--secret', SECRET, '--canonical'], '{ "event" : "assets.updated",\n "body": ["a\\/b"] }');
    expect(stdout).toBe(`x-webhook-signature: ${createHmac('sha256', SECRET).update(JSON.stringify({ event: 'assets.updated', body: ['a/b'] })).digest('base64')}\n`);
    const { code, stderr } = await cli(['sign', '--secret', SECRET, '--canonical'], 'not json');
    expect(code).toBe(2);
    expect(stderr).toMatch(/--canonical needs a JSON body/);
  });

  it('signs a file, in hex with sha512 when asked', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mw-')), 'body.json');
    writeFileSync(file, '{"type":"sync.completed"}');
    const { stdout } = await cli(['sign', '--secret', SECRET, '--file', file, '--algorithm', 'sha512', '--encoding', 'hex', '--header', 'x-makini-signature']);
    expect(stdout).toBe(`x-makini-signature: ${createHmac('sha512', SECRET).update('{"type":"sync.completed"}').digest('hex')}\n`);
  });

  it("reproduces GitHub's published example with the header renamed", async () => {
    const { stdout } = await cli(['sign', '--secret', "It's a Secret to Everybody", '--header', 'X-Hub-Signature-256', '--encoding', 'hex', '--prefix'], 'Hello, World!');
    expect(stdout).toBe('x-hub-signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n');
  });

  it('reproduces the Standard Webhooks published test vector', async () => {
    const { stdout } = await cli(
      ['sign', '--scheme', 'standard-webhooks', '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '--id', 'msg_p5jXN8AQM9LWM0D4loKWxJek', '--timestamp', '1614265330'],
      '{"test": 2432232314}',
    );
    expect(stdout).toBe('webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\nwebhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n');
  });

  it('takes the secret from MAKINI_WEBHOOK_SECRET', async () => {
    const { code, stdout } = await cli(['sign'], 'x', { MAKINI_WEBHOOK_SECRET: SECRET });
    expect(code).toBe(0);
    expect(stdout).toContain(createHmac('sha256', SECRET).update('x').digest('base64'));
  });

  it.each([
    [['sign'], /signing secret is required/],
    [['sign', '--secret', 's', '--bogus'], /Unknown option '--bogus'/],
    [['sign', '--secret', 's', '--scheme', 'hmac'], /signatureScheme: must be one of makini, standard-webhooks/],
    [['sign', '--secret', 's', '--timestamp', 'yesterday'], /--timestamp must be Unix seconds/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('exits 2 with a message for %j', async (args, message) => {
    const { code, stderr } = await cli(args, 'x', { MAKINI_WEBHOOK_SECRET: '' });
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it.each([['sign'], ['send'], []])('prints help for %j --help and exits 0', async (...command) => {
    const { code, stdout } = await cli([...command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: makini-webhooks/);
  });
});

describe('makini-webhooks send', () => {
  let api: HttpApi;
  let messages: string[];

  async function startReceiver(overrides: Partial<MakiniWebhookConfig> = {}, secret = SECRET) {
    messages = [];
    const handler = createReceiverHandler({
      config: resolveConfig(overrides),
      secrets: { get: async () => [secret], refresh: async () => undefined },
      queue: { send: async (m) => void messages.push(m) },
      logger: new Logger({ serviceName: 'receiver', logLevel: 'ERROR' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'receiver' }),
    });
    api = await startHttpApi({ routes: { '/webhooks': handler, '/webhooks/{connection}': handler } });
    return `${api.url}/webhooks`;
  }

  afterEach(async () => api?.close());

  it("posts a notification as Makini sends it, which the receiver accepts, and prints the response", async () => {
    const url = await startReceiver();
    const { code, stdout } = await cli(['send', '--url', url, '--secret', SECRET, '--ids', 'a1,b2']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^assets\.updated -> 200 \{"received":true,"webhookId":"sha256:[0-9a-f]{64}"\}\n$/);
    const { envelope, body } = decodeEnvelope(messages[0]);
    expect(body.toString()).toBe('{"event":"assets.updated","body":["a1","b2"]}');
    expect(envelope.dedup).toBe('content');
  });

  it('posts to a per-connection URL', async () => {
    const url = await startReceiver();
    const { code } = await cli(['send', '--url', `${url}/conn_42`, '--secret', SECRET, '--type', 'work-orders.inserted']);
    expect(code).toBe(0);
    expect(decodeEnvelope(messages[0]).envelope.connectionId).toBe('conn_42');
  });

  it('sends one notification of every documented kind with --type all', async () => {
    const url = await startReceiver();
    const { code } = await cli(['send', '--url', url, '--secret', SECRET, '--type', 'all']);
    expect(code).toBe(0);
    const events = messages.map((m) => JSON.parse(decodeEnvelope(m).body.toString()));
    expect(events.map((e) => e.event)).toEqual([...NOTIFICATION_EVENTS]);
    for (const e of events) expect(Object.keys(e)).toEqual(['event', 'body']);
  });

  it('posts a lifecycle event with --lifecycle', async () => {
    const url = await startReceiver();
    const { code, stdout } = await cli(['send', '--lifecycle', '--url', url, '--secret', SECRET, '--connection', 'conn_42', '--id', 'evt_cli_1']);
    expect(code).toBe(0);
    expect(stdout).toBe('sync.completed evt_cli_1 -> 200 {"received":true,"webhookId":"evt_cli_1"}\n');
    const event = JSON.parse(decodeEnvelope(messages[0]).body.toString());
    expect(event).toMatchObject({ id: 'evt_cli_1', type: 'sync.completed', connection_id: 'conn_42', data: { status: 'completed' } });
  });

  it('sends one realistic lifecycle event of every type with --lifecycle --type all', async () => {
    const url = await startReceiver();
    const { code } = await cli(['send', '--lifecycle', '--url', url, '--secret', SECRET, '--type', 'all']);
    expect(code).toBe(0);
    const events = messages.map((m) => JSON.parse(decodeEnvelope(m).body.toString()));
    expect(events.map((e) => e.type)).toEqual([...MAKINI_EVENT_TYPES]);
    expect(events.find((e) => e.type === 'connection.status_changed').data.status).toMatch(/^(online|offline)$/);
    for (const e of events) expect(Date.parse(e.timestamp)).not.toBeNaN();
  });

  it('repeats the same webhook with --repeat, as Makini retries would', async () => {
    const url = await startReceiver();
    await cli(['send', '--url', url, '--secret', SECRET, '--repeat', '3']);
    expect(messages).toHaveLength(3);
    expect(new Set(messages.map((m) => decodeEnvelope(m).envelope.webhookId)).size).toBe(1);
    expect(new Set(messages.map((m) => decodeEnvelope(m).body.toString())).size).toBe(1);
    messages = [];
    await cli(['send', '--lifecycle', '--url', url, '--secret', SECRET, '--repeat', '2', '--timestamp', '2026-01-02T03:04:05Z']);
    expect(new Set(messages.map((m) => decodeEnvelope(m).envelope.webhookId)).size).toBe(1);
    expect(JSON.parse(decodeEnvelope(messages[0]).body.toString()).timestamp).toBe('2026-01-02T03:04:05.000Z');
  });

  it('signs with standard-webhooks when asked', async () => {
    const secret = 'whsec_' + Buffer.from('a-standard-webhooks-key!').toString('base64');
    const url = await startReceiver({ signatureScheme: 'standard-webhooks' }, secret);
    const { code, stdout } = await cli(['send', '--url', url, '--secret', secret, '--scheme', 'standard-webhooks', '--id', 'msg_std']);
    expect(code).toBe(0);
    expect(stdout).toContain('-> 200');
  });

  it('exits 1 and shows the structured error when the receiver rejects the signature', async () => {
    const url = await startReceiver();
    const { code, stdout } = await cli(['send', '--url', url, '--secret', 'wrong-secret']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/-> 401 \{"error":\{"code":"INVALID_SIGNATURE"/);
    expect(messages).toHaveLength(0);
  });

  it('exits 1 when nothing listens at the URL', async () => {
    const url = await startReceiver();
    await api.close();
    const { code, stdout } = await cli(['send', '--url', url, '--secret', SECRET]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/request failed/);
  });

  it.each([
    [['send', '--secret', 's'], /--url is required/],
    [['send', '--url', 'ftp://x', '--secret', 's'], /--url must be an http\(s\) URL/],
    [['send', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--type', 'nope'], /--type must be <entity>.<action>/],
    [['send', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--lifecycle', '--type', 'nope'], /--type must be one of/],
    [['send', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--lifecycle', '--type', 'all', '--id', 'x'], /--id cannot be combined/],
    [['send', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--connection', 'c'], /--connection needs --lifecycle.*<url>\/<connection>/],
    [['send', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--repeat', '0'], /--repeat must be/],
  ])('exits 2 with a message for %j', async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });
});

describe('makini-webhooks connections', () => {
  let sm: import('../../local/aws/secrets-manager').LocalSecretsManager;
  let env: Record<string, string>;
  beforeEach(async () => {
    const { startLocalSecretsManager } = await import('../../local/aws/secrets-manager');
    sm = await startLocalSecretsManager();
    env = { AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url };
  });
  afterEach(async () => sm.close());

  it('adds a connection from standard input, lists ids only, updates and removes it', async () => {
    const token = 'tok_live_cli_9c8d7e6f';
    const added = await cli(['connections', 'add', 'conn_42'], `${token}\n`, env);
    expect(added).toMatchObject({ code: 0, stdout: 'added conn_42 (makini/connections/conn_42)\n' });
    expect(JSON.parse(sm.values()['makini/connections/conn_42'])).toEqual({ connectionId: 'conn_42', token });

    await cli(['connections', 'add', 'conn_7'], 'tok_other', env);
    const listed = await cli(['connections', 'list'], undefined, env);
    expect(listed.stdout).toBe('conn_42\nconn_7\n');
    expect((await cli(['connections', 'list', '--json'], undefined, env)).stdout).toBe('["conn_42","conn_7"]\n');
    expect(listed.stdout + added.stdout + added.stderr).not.toContain(token);

    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mw-')), 'token');
    writeFileSync(file, 'tok_rotated\n');
    expect((await cli(['connections', 'add', 'conn_42', '--token-file', file], undefined, env)).stdout).toMatch(/^updated the token of conn_42/);
    expect(JSON.parse(sm.values()['makini/connections/conn_42']).token).toBe('tok_rotated');

    expect((await cli(['connections', 'remove', 'conn_42'], undefined, env)).stdout).toMatch(/recoverable for 7 days/);
    expect((await cli(['connections', 'list'], undefined, env)).stdout).toBe('conn_7\n');
  });

  it('honours a custom prefix', async () => {
    await cli(['connections', 'add', 'c1', '--prefix', 'prod/makini/'], 'tok', env);
    expect(Object.keys(sm.values())).toEqual(['prod/makini/c1']);
    expect((await cli(['connections', 'list'], undefined, { ...env, MAKINI_CONNECTION_SECRET_PREFIX: 'prod/makini/' })).stdout).toBe('c1\n');
  });

  it.each([
    [['connections', 'add'], '', /needs a connection id/],
    [['connections', 'add', 'bad id'], 'tok', /a connection id may hold/],
    [['connections', 'add', 'c1'], '', /the token is empty/],
    [['connections', 'rename', 'c1'], '', /unknown connections action/],
  ])('exits 2 with a message for %j', async (args, stdin, message) => {
    const { code, stderr } = await cli(args, stdin, env);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('exits 1 with the AWS error when removing an unknown connection', async () => {
    const { code, stderr } = await cli(['connections', 'remove', 'ghost'], undefined, env);
    expect(code).toBe(1);
    expect(stderr).toMatch(/can't find the specified secret/);
  });
});
