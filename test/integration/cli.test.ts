import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { resolveConfig, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { MAKINI_EVENT_TYPES } from '../../lambdas/core/event-types';
import { NOTIFICATION_EVENTS } from '../../local/sample-events';
import { createReceiverHandler } from '../../lambdas/receiver/receiver';
import { startHttpApi, type HttpApi } from '../../local/http-api';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseConnectionSecret } from '../../lambdas/core/connection-secret';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { listenOnLoopback } from '../../local/loopback-server';
import { createServer } from 'node:http';
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
    [['sign', '--secret', 's', '--bogus'], /unknown option '--bogus'/],
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
    [['send', '--secret', 's'], /required option '--url <URL>' not specified/],
    [['send', '--url', 'ftp://x', '--secret', 's'], /--url must be an http\(s\) URL/],
    [['send', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--type', 'nope'], /--type must be <entity>.<action>/],
    [['send', '--url', 'http://127.0.0.1:9/webhooks', '--secret', 's', '--type', `${'a'.repeat(65)}.updated`], /--type must be <entity>.<action> \(each part at most 64 characters\)/],
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
    // The Secrets Manager store, with ambient credentials (no stack): the table store is the default.
    env = { AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url, MAKINI_TOKEN_STORE: 'secrets-manager' };
  });
  afterEach(async () => sm.close());

  it('adds a connection from standard input, lists ids only, updates and removes it', async () => {
    const token = 'tok_live_cli_9c8d7e6f';
    const added = await cli(['connections', 'add', 'conn_42'], `${token}\n`, env);
    expect(added).toMatchObject({ code: 0, stdout: 'added conn_42 (makini/connections/conn_42)\n' });
    expect(JSON.parse(sm.values()['makini/connections/conn_42'])).toEqual({ connectionId: 'conn_42', token });

    await cli(['connections', 'add', 'conn_7'], 'tok_other', env);
    const listed = await cli(['connections', 'list'], undefined, env);
    expect(listed.stdout.split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['connectionId', 'conn_42', 'conn_7', '']);
    expect(JSON.parse((await cli(['connections', 'list', '--json'], undefined, env)).stdout)).toEqual([
      { connectionId: 'conn_42', refreshToken: false, expiresAt: null, refreshExpiresAt: null, problem: null },
      { connectionId: 'conn_7', refreshToken: false, expiresAt: null, refreshExpiresAt: null, problem: null },
    ]);
    expect(listed.stdout + added.stdout + added.stderr).not.toContain(token);

    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mw-')), 'token');
    writeFileSync(file, 'tok_rotated\n');
    expect((await cli(['connections', 'add', 'conn_42', '--token-file', file], undefined, env)).stdout).toMatch(/^updated the token of conn_42/);
    expect(JSON.parse(sm.values()['makini/connections/conn_42']).token).toBe('tok_rotated');

    expect((await cli(['connections', 'remove', 'conn_42'], undefined, env)).stdout).toMatch(/recoverable for 7 days/);
    expect(listIds((await cli(['connections', 'list'], undefined, env)).stdout)).toEqual(['conn_7']);
  });

  it('honours a custom prefix', async () => {
    await cli(['connections', 'add', 'c1', '--prefix', 'prod/makini/'], 'tok', env);
    expect(Object.keys(sm.values())).toEqual(['prod/makini/c1']);
    expect(listIds((await cli(['connections', 'list'], undefined, { ...env, MAKINI_CONNECTION_SECRET_PREFIX: 'prod/makini/' })).stdout)).toEqual(['c1']);
  });

  /** The connection ids of a `connections list` table. */
  const listIds = (stdout: string) => stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
  const stored = (name: string) => {
    const parsed = parseConnectionSecret(sm.values()[name]);
    if (!parsed.ok) throw new Error(`stored secret does not parse: ${parsed.reason}`);
    return parsed.value;
  };
  const ACCESS = 'at_live_3f9a8b7c6d5e4f30';
  const REFRESH = 'rt_live_0a1b2c3d4e5f6789';
  const day = 86_400_000;

  it("stores Makini's token answer as the OAuth pair: expires_in as epoch seconds or a duration, never printing a token", async () => {
    const expiresEpoch = Math.floor(Date.now() / 1000) + 30 * 86_400;
    const answer = { access_token: ACCESS, refresh_token: REFRESH, token_type: 'bearer', expires_in: String(expiresEpoch) };
    const before = Date.now();
    const added = await cli(['connections', 'add', 'conn_pair'], JSON.stringify(answer, null, 2), env);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^added conn_pair \(makini\/connections\/conn_pair\): with a refresh token, access token expires \S+Z, refresh token expires \S+Z\n$/);
    const token = stored('makini/connections/conn_pair');
    expect(token).toMatchObject({ connectionId: 'conn_pair', token: ACCESS, refreshToken: REFRESH, expiresAt: new Date(expiresEpoch * 1000).toISOString() });
    expect(Date.parse(token.refreshExpiresAt!) - before).toBeGreaterThanOrEqual(31 * day - 1000);
    expect(Date.parse(token.refreshExpiresAt!) - before).toBeLessThan(31 * day + 60_000);

    // expires_in as OAuth's duration, from a file
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mw-')), 'pair.json');
    writeFileSync(file, JSON.stringify({ access_token: `${ACCESS}2`, refresh_token: `${REFRESH}2`, expires_in: 3600 }));
    const updated = await cli(['connections', 'add', 'conn_pair', '--token-file', file], undefined, env);
    expect(updated.stdout).toMatch(/^updated the token of conn_pair/);
    const rotated = stored('makini/connections/conn_pair');
    expect(rotated).toMatchObject({ token: `${ACCESS}2`, refreshToken: `${REFRESH}2` });
    expect(Math.abs(Date.parse(rotated.expiresAt!) - (Date.now() + 3_600_000))).toBeLessThan(60_000);

    for (const out of [added, updated]) expect(out.stdout + out.stderr).not.toMatch(/at_live|rt_live/);
  });

  it('stores our own secret form as given', async () => {
    const value = { token: ACCESS, refreshToken: REFRESH, expiresAt: '2031-01-02T03:04:05Z', refreshExpiresAt: '2031-02-01T00:00:00.000Z' };
    const added = await cli(['connections', 'add', 'conn_own'], JSON.stringify(value), env);
    expect(added.code).toBe(0);
    expect(stored('makini/connections/conn_own')).toEqual({ connectionId: 'conn_own', token: ACCESS, refreshToken: REFRESH, expiresAt: '2031-01-02T03:04:05.000Z', refreshExpiresAt: '2031-02-01T00:00:00.000Z' });
    expect(added.stdout + added.stderr).not.toMatch(/at_live|rt_live/);
  });

  it('pairs a bare token with --refresh-token-file and --expires-at', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mw-'));
    writeFileSync(path.join(dir, 'refresh'), `${REFRESH}\n`);
    const added = await cli(['connections', 'add', 'conn_bare', '--refresh-token-file', path.join(dir, 'refresh'), '--expires-at', '2030-06-01T12:00:00Z'], `${ACCESS}\n`, env);
    expect(added.code).toBe(0);
    const token = stored('makini/connections/conn_bare');
    expect(token).toMatchObject({ connectionId: 'conn_bare', token: ACCESS, refreshToken: REFRESH, expiresAt: '2030-06-01T12:00:00.000Z' });
    expect(Math.abs(Date.parse(token.refreshExpiresAt!) - (Date.now() + 31 * day))).toBeLessThan(60_000);
    expect(added.stdout + added.stderr).not.toMatch(/at_live|rt_live/);

    // a refresh token alone: the access token is taken to last Makini's 30 days
    await cli(['connections', 'add', 'conn_bare2', '--refresh-token-file', path.join(dir, 'refresh')], ACCESS, env);
    expect(Math.abs(Date.parse(stored('makini/connections/conn_bare2').expiresAt!) - (Date.now() + 30 * day))).toBeLessThan(60_000);
    // --expires-at alone: no refresh token
    await cli(['connections', 'add', 'conn_bare3', '--expires-at', '2030-01-01T00:00:00Z'], ACCESS, env);
    expect(stored('makini/connections/conn_bare3')).toEqual({ connectionId: 'conn_bare3', token: ACCESS, expiresAt: '2030-01-01T00:00:00.000Z' });
  });

  it('lists whether each connection has a refresh token and when its tokens expire, tokens never shown', async () => {
    await cli(['connections', 'add', 'a_pair'], JSON.stringify({ token: ACCESS, refreshToken: REFRESH, expiresAt: '2030-05-01T00:00:00Z', refreshExpiresAt: '2030-05-02T00:00:00Z' }), env);
    await cli(['connections', 'add', 'b_old', '--expires-at', '2020-01-01T00:00:00Z'], ACCESS, env);
    await cli(['connections', 'add', 'c_plain'], ACCESS, env);
    // A secret someone wrote by hand, not usable: listed with the reason, never its value.
    const client = new SecretsManagerClient({ endpoint: sm.url });
    await client.send(new CreateSecretCommand({ Name: 'makini/connections/d_broken', SecretString: `{"connectionId":"d_broken","tok":"${ACCESS}"}` }));
    client.destroy();

    const listed = await cli(['connections', 'list'], undefined, env);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
    expect(lines).toEqual([
      ['connectionId', 'refreshToken', 'accessExpiresAt', 'refreshExpiresAt', 'problem'],
      ['a_pair', 'yes', '2030-05-01T00:00:00.000Z', '2030-05-02T00:00:00.000Z', '-'],
      ['b_old', 'no', '2020-01-01T00:00:00.000Z (expired)', '-', '-'],
      ['c_plain', 'no', '-', '-', '-'],
      ['d_broken', '-', '-', '-', 'unusable secret: token is missing'],
    ]);
    const json = await cli(['connections', 'list', '--json'], undefined, env);
    expect(JSON.parse(json.stdout)).toEqual([
      { connectionId: 'a_pair', refreshToken: true, expiresAt: '2030-05-01T00:00:00.000Z', refreshExpiresAt: '2030-05-02T00:00:00.000Z', problem: null },
      { connectionId: 'b_old', refreshToken: false, expiresAt: '2020-01-01T00:00:00.000Z', refreshExpiresAt: null, problem: null },
      { connectionId: 'c_plain', refreshToken: false, expiresAt: null, refreshExpiresAt: null, problem: null },
      { connectionId: 'd_broken', refreshToken: null, expiresAt: null, refreshExpiresAt: null, problem: 'unusable secret: token is missing' },
    ]);
    for (const out of [listed, json]) expect(out.stdout + out.stderr).not.toMatch(/at_live|rt_live/);
  });

  it.each([
    [['connections', 'add', 'c1'], `{"access_token": "${ACCESS}", `, /starts with \{ but is not a JSON object/],
    [['connections', 'add', 'c1'], `{"refresh_token": "${REFRESH}"}`, /token JSON is not usable: token is missing/],
    [['connections', 'add', 'c1'], `{"access_token": "", "refresh_token": "${REFRESH}"}`, /token JSON is not usable: access_token is missing/],
    [['connections', 'add', 'c1'], `{"token": "${ACCESS}", "expiresAt": "soon"}`, /token JSON is not usable: expiresAt is not a date/],
    [['connections', 'add', 'c1'], `{"connectionId": "c2", "token": "${ACCESS}"}`, /for another connection than c1/],
    [['connections', 'add', 'c1', '--expires-at', '2030-01-01T00:00:00Z'], `{"access_token": "${ACCESS}"}`, /--expires-at is for a bare token/],
    [['connections', 'add', 'c1', '--expires-at', 'next tuesday'], ACCESS, /--expires-at must be an ISO-8601 time/],
    [['connections', 'add', 'c1', '--refresh-expires-at', '2030-01-01T00:00:00Z'], ACCESS, /--refresh-expires-at needs --refresh-token-file/],
    [['connections', 'add', 'c1'], `Bearer ${ACCESS}`, /the token holds whitespace/],
    [['connections', 'list', '--expires-at', '2030-01-01T00:00:00Z'], '', /--expires-at is an option of connections add/],
  ])('rejects bad token input (%j, stdin %#) without echoing it', async (args, stdin, message) => {
    const { code, stdout, stderr } = await cli(args, stdin, env);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stdout + stderr).not.toMatch(/at_live|rt_live/);
    expect(sm.values()).toEqual({});
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

describe('makini-webhooks poll', () => {
  // The local stack in this process, as `npm start` runs it: the bundled Makini simulator, in system
  // mode, with conn_sim_0..9. It points this process's AWS_ENDPOINT_URL_* at itself: restored after.
  const savedEnv = { ...process.env };
  let stack: LocalStack;
  let dir: string;
  beforeAll(async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    dir = mkdtempSync(path.join(tmpdir(), 'mw-poll-'));
    stack = await startLocalStack({ dir, port: 0, env: { MAKINI_LOG_LEVEL: 'ERROR' } });
  });
  afterAll(async () => {
    await stack?.close();
    process.env = { ...savedEnv };
  });

  it('runs the poller of the local stack now and prints its summary', async () => {
    const { code, stdout, stderr } = await cli(['poll', '--local-dir', dir]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^poll run on the local stack \(.*\), system mode\n/);
    const field = (name: string) => Number(new RegExp(`^  ${name}\\s+(\\d+)`, 'm').exec(stdout)?.[1]);
    expect(field('connections')).toBe(10);
    expect(field('polled')).toBeGreaterThan(0);
    for (const name of ['failed', 'recovered', 'deleted', 'tokens refreshed', 'refresh failed', 'deferred']) expect(field(name)).not.toBeNaN();
  });

  it('prints the summary as JSON with --json, finding the stack through MAKINI_LOCAL_DIR', async () => {
    const { code, stdout } = await cli(['poll', '--json'], undefined, { MAKINI_LOCAL_DIR: dir });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ mode: 'system', connections: 10, failed: 0, deleted: 0, tokensRefreshed: 0, tokenRefreshFailed: 0 });
    expect(summary.polled).toBeGreaterThan(0);
    expect(Object.keys(summary)).toEqual(expect.arrayContaining(['recovered', 'deferred']));
  });

  it('exits 1 with one line when the poll run fails', async () => {
    // Makini refuses the client credentials (the poller retries a 401 once, with a new token).
    stack.makini!.failNext('connections', { kind: 'unauthorized' }, { kind: 'unauthorized' });
    const { code, stdout, stderr } = await cli(['poll', '--local-dir', dir]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^makini-webhooks: poll run failed: Unauthenticated\.\n$/);
    expect((await cli(['poll', '--local-dir', dir])).code).toBe(0); // the fault is spent
  });

  it('exits 1 with one line when there is no local stack, or it is not running', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'mw-none-'));
    const none = await cli(['poll', '--local-dir', empty]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^makini-webhooks: no local stack in .*: start one with 'npm start'.*\n$/);

    // A stack.json left behind by a stack that is gone: nothing listens at its URL any more.
    const { url, close } = await listenOnLoopback(createServer());
    await close();
    writeFileSync(path.join(empty, 'stack.json'), JSON.stringify({ ...stack.info, pollUrl: `${url}/_local/poll` }));
    const stopped = await cli(['poll', '--local-dir', empty]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/^makini-webhooks: the local stack in .* is not running \(nothing answers at http:\/\/127\.0\.0\.1:\d+\): start it with 'npm start'\n$/);
  });

  it('says when a run was skipped (another held the lease) or handed its due connections to poll workers', async () => {
    const zeros = { connections: 0, due: 0, polled: 0, failed: 0, unauthorized: 0, recovered: 0, deferred: 0, peakConcurrency: 0, deleted: 0, tokensRefreshed: 0, tokenRefreshFailed: 0, tokensExpiring: 0 };
    const answers = [
      { ...zeros, mode: 'per-connection', skipped: 'another poll run is in progress' },
      { ...zeros, mode: 'system', connections: 5000, due: 5000, shards: 3 },
    ];
    const { url, close } = await listenOnLoopback(createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers.shift()))));
    try {
      const fake = mkdtempSync(path.join(tmpdir(), 'mw-fake-'));
      writeFileSync(path.join(fake, 'stack.json'), JSON.stringify({ ...stack.info, pollUrl: `${url}/_local/poll` }));
      const skipped = await cli(['poll', '--local-dir', fake]);
      expect(skipped).toMatchObject({ code: 0, stderr: '' });
      expect(skipped.stdout).toMatch(/^poll run on the local stack \(.*\): skipped, another poll run is in progress; nothing was polled\n$/);
      const fannedOut = await cli(['poll', '--local-dir', fake]);
      expect(fannedOut.stdout).toMatch(/^  handed out +3 shard\(s\) of the 5000 due to poll workers/m);
    } finally {
      await close();
    }
  });

  it('prints its help, and takes no arguments', async () => {
    expect(await cli(['poll', '--help'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: makini-webhooks poll/) });
    expect((await cli(['--help'])).stdout).toMatch(/^  poll +run the poller now/m);
    expect(await cli(['poll', 'now'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unexpected arguments: now/) });
    expect(await cli(['poll', '--stack', 'S', '--local-dir', dir])).toMatchObject({ code: 2, stderr: expect.stringMatching(/not both/) });
  });
});
