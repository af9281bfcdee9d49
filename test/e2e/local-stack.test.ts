import { readBusLog } from '../../local/aws/eventbridge';
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { formatConnectionSecret, tokenFromResponse, type TokenResponse } from '../../lambdas/core/connection-secret';
import { makiniScheme, standardWebhooksScheme } from '../../lambdas/core/signature';
import { buildStream, simulate } from '../../local/simulator';
import { queueDepth, startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(120_000);

let stack: StackProcess | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const makini = makiniScheme('x-makini-signature', 'sha256');
async function post(s: StackProcess, body: string, headers: Record<string, string> = makini.sign(Buffer.from(body), s.secret)) {
  const response = await fetch(s.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}
const statusEvent = (id: string, connection: string, status: 'online' | 'offline', at: string) =>
  JSON.stringify({ id, type: 'connection.status_changed', timestamp: at, connection_id: connection, data: { status } });
async function cliJson(s: StackProcess, ...args: string[]) {
  const { code, stdout, stderr } = await cli([...args, '--json', '--local-dir', s.dir]);
  if (code !== 0) throw new Error(stderr);
  return JSON.parse(stdout) as Record<string, unknown>[];
}

describe('local stack, end to end (child process, loopback only)', () => {
  it('happy path: a signed webhook gets 200, shows in status and events through the CLI, and reaches the bus', async () => {
    stack = await startStackProcess();
    const sent = await cli(['send', '--lifecycle', '--url', stack.info.webhookUrl, '--secret', stack.secret, '--type', 'connection.status_changed', '--connection', 'conn_e2e', '--id', 'evt_e2e_1']);
    expect(sent.stdout).toMatch(/-> 200 \{"received":true,"webhookId":"evt_e2e_1"\}/);

    await waitFor(async () => (await cliJson(stack!, 'events')).some((e) => e.webhookId === 'evt_e2e_1'));
    expect(await cliJson(stack, 'events', '--connection', 'conn_e2e')).toEqual([expect.objectContaining({ webhookId: 'evt_e2e_1', type: 'connection.status_changed', source: 'webhook', deliveries: 1, stale: false })]);
    expect(await cliJson(stack, 'status')).toEqual([expect.objectContaining({ connectionId: 'conn_e2e', status: 'offline', needsReauthorization: false, lastWebhookAt: expect.any(String) })]);
    expect(readBusLog(stack.info.busLog)).toEqual([expect.objectContaining({ 'detail-type': 'connection.status_changed', source: 'makini.webhooks' })]);
    expect(stack.output()).toMatch(/processed connection\.status_changed evt_e2e_1 connection conn_e2e status offline/);
  });

  it('20 concurrent copies of one webhook: one effect, 20 deliveries', async () => {
    stack = await startStackProcess();
    const body = statusEvent('evt_twenty', 'conn_t', 'online', '2026-11-22T05:00:00Z');
    const results = await Promise.all(Array.from({ length: 20 }, () => post(stack!, body)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    await waitFor(async () => (await cliJson(stack!, 'events', '--connection', 'conn_t'))[0]?.deliveries === 20);
    expect(readBusLog(stack.info.busLog)).toHaveLength(1);
  });

  it('shuffled status events across 10 connections end in the in-order states', async () => {
    stack = await startStackProcess();
    const events = Array.from({ length: 10 }, (_, c) =>
      Array.from({ length: 5 }, (_, i) => ({ c, i, body: statusEvent(`evt_s_${c}_${i}`, `conn_s${c}`, (c + i) % 2 ? 'online' : 'offline', `2026-11-22T05:0${i}:00Z`) })),
    ).flat();
    // A fixed permutation (reverse, then interleave) rather than a random one: the test is repeatable.
    const shuffled = [...events].reverse().sort((a, b) => (a.i % 2) - (b.i % 2));
    for (const e of shuffled) expect((await post(stack, e.body)).status).toBe(200);
    await waitFor(async () => (await cliJson(stack!, 'events', '--limit', '100')).length === 50);
    const status = await cliJson(stack, 'status');
    for (let c = 0; c < 10; c++) expect(status.find((s) => s.connectionId === `conn_s${c}`)?.status).toBe((c + 4) % 2 ? 'online' : 'offline');
  });

  it('forged, tampered and stale-timestamp requests get 401 and nothing is enqueued; oversized bodies get 413', async () => {
    const secret = `whsec_${Buffer.from('e2e-standard-webhooks-key').toString('base64')}`;
    stack = await startStackProcess({ env: { MAKINI_SIGNATURE_SCHEME: 'standard-webhooks', MAKINI_WEBHOOK_SECRET: secret, MAKINI_MAX_BODY_BYTES: '2048' } });
    const std = standardWebhooksScheme(300);
    const body = statusEvent('evt_bad', 'conn_b', 'online', '2026-11-22T05:00:00Z');
    const forged = std.sign(Buffer.from(body), `whsec_${Buffer.from('attacker').toString('base64')}`, { id: 'msg_1' });
    const tampered = std.sign(Buffer.from(body.replace('online', 'offline')), secret, { id: 'msg_1' });
    const stale = std.sign(Buffer.from(body), secret, { id: 'msg_1', timestamp: Math.floor(Date.now() / 1000) - 3_600 });
    expect((await post(stack, body, forged)).json).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
    expect((await post(stack, body, tampered)).status).toBe(401);
    expect((await post(stack, body, stale)).json).toMatchObject({ error: { code: 'TIMESTAMP_OUT_OF_TOLERANCE' } });
    const big = JSON.stringify({ pad: 'x'.repeat(4096) });
    expect((await post(stack, big, std.sign(Buffer.from(big), secret, { id: 'msg_big' }))).status).toBe(413);
    expect(await queueDepth(stack)).toBe(0);
    expect(await cliJson(stack, 'events')).toEqual([]);
  });

  it('system mode against the bundled Makini simulator: a fail sync status notifies once, a deleted connection stops being polled', async () => {
    stack = await startStackProcess();
    expect(stack.info).toMatchObject({ pollMode: 'system', makiniSimulator: true });
    const sim = (path: string, init: RequestInit = { method: 'POST' }) => fetch(`${stack!.info.makiniApiUrl}/_simulator${path}`, init);
    const poll = async () => (await (await fetch(stack!.info.pollUrl, { method: 'POST' })).json()) as Record<string, number | string>;

    expect(await poll()).toMatchObject({ mode: 'system', connections: 10, polled: 10, failed: 0 });
    // Drained before the next run: a run that finds the last run's events still queued sends them
    // again (same ids), and a copy that meets its twin in flight waits out the visibility timeout.
    await waitFor(async () => (await queueDepth(stack!)) === 0);
    await (await sim('/connections/conn_sim_0', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sync_status: 'fail', sync_updated_at: new Date().toISOString() }) })).text();
    await (await sim('/connections/conn_sim_1', { method: 'DELETE' })).text();
    expect(await poll()).toMatchObject({ deleted: 1, connections: 9 });
    await waitFor(async () => (await cliJson(stack!, 'status')).some((s) => s.connectionId === 'conn_sim_0' && s.needsReauthorization === true));

    expect(await poll()).toMatchObject({ deleted: 0, connections: 9 });
    await waitFor(async () => (await queueDepth(stack!)) === 0);
    const reauth = readBusLog(stack.info.busLog).filter((e) => e['detail-type'] === 'connection.reauthorization_required');
    expect(reauth).toHaveLength(1); // raised once, however often it is polled
    expect(await cliJson(stack, 'events', '--connection', 'conn_sim_1')).not.toEqual([]); // its history stays
  });

  it('per-connection mode, table token store (the default): a pair added with the CLI, a refresh whose write fails after Makini’s answer, the next run saving it; secrets migrated with the CLI', async () => {
    // No token cache: each run reads what the CLI stored just before (else up to 5 minutes later).
    stack = await startStackProcess({ env: { MAKINI_POLL_MODE: 'per-connection', MAKINI_TOKEN_CACHE_SECONDS: '0' } });
    expect(stack.info).toMatchObject({ pollMode: 'per-connection', tokenStore: 'table', tokenKeyArn: expect.stringMatching(/^arn:aws:kms:/) });
    const simulator = async (route: string, body: unknown) =>
      (await fetch(`${stack!.info.makiniApiUrl}/_simulator/connections/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;
    await simulator('conn_t', {});
    const pair = (await simulator('conn_t/pair', { accessTtlSeconds: 2 * 86_400 })) as { access_token: string; refresh_token: string };
    const added = await cli(['connections', 'add', 'conn_t', '--local-dir', stack.dir], JSON.stringify(pair));
    expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: '' });
    expect(added.stdout).toMatch(/^added conn_t \(table \S+\): with a refresh token/);
    const listed = async () => (await cliJson(stack!, 'connections', 'list')) as { connectionId: string; expiresAt: string }[];
    const before = (await listed())[0]!;
    expect(before).toMatchObject({ connectionId: 'conn_t', refreshToken: true });
    const poll = async () => (await (await fetch(stack!.info.pollUrl, { method: 'POST' })).json()) as Record<string, number | string>;

    // Nothing in Secrets Manager to copy: `connections migrate` notes it, so the poller does not look.
    expect(JSON.parse((await cli(['connections', 'migrate', '--json', '--local-dir', stack.dir])).stdout)).toEqual({ copied: [], present: [], removed: [], dropped: [], invalid: [], deleted: [], kept: [] });
    // The crash: Makini answers the refresh, writing the new pair fails.
    writeFileSync(path.join(stack.dir, 'faults.json'), JSON.stringify({ 'dynamodb.PutItem': 'unavailable' }));
    expect(await poll()).toMatchObject({ mode: 'per-connection', polled: 1, failed: 0, tokensRefreshed: 0, tokenRefreshFailed: 1 });
    expect((await listed())[0]!.expiresAt).toBe(before.expiresAt); // the previous pair, still stored
    rmSync(path.join(stack.dir, 'faults.json'));

    // The next run seals and writes the refreshed pair it kept (Makini may have revoked the stored one).
    expect(await poll()).toMatchObject({ polled: 1, failed: 0, tokenRefreshFailed: 0 });
    expect(Date.parse((await listed())[0]!.expiresAt)).toBeGreaterThan(Date.parse(before.expiresAt));
    expect(await poll()).toMatchObject({ polled: 1, tokensRefreshed: 0, tokenRefreshFailed: 0 });

    // A connection still in Secrets Manager: `connections migrate --delete-secrets` copies it and deletes the secret.
    await simulator('conn_m', {});
    const legacy = tokenFromResponse('conn_m', (await simulator('conn_m/pair', {})) as TokenResponse, Date.now());
    if (!legacy.ok) throw new Error(legacy.reason);
    const sm = new SecretsManagerClient({ endpoint: stack.info.endpoints.secretsManager, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    try {
      await sm.send(new CreateSecretCommand({ Name: 'makini/connections/conn_m', SecretString: formatConnectionSecret(legacy.value) }));
      const migrated = await cli(['connections', 'migrate', '--delete-secrets', '--json', '--local-dir', stack.dir]);
      expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(migrated.stdout)).toEqual({ copied: ['conn_m'], present: [], removed: [], dropped: [], invalid: [], deleted: ['makini/connections/conn_m'], kept: [] });
      await expect(sm.send(new GetSecretValueCommand({ SecretId: 'makini/connections/conn_m' }))).rejects.toThrow(/deletion|deleted|not found|can't find/i);
    } finally {
      sm.destroy();
    }
    expect((await listed()).map((c) => c.connectionId)).toEqual(['conn_m', 'conn_t']);
    expect(await poll()).toMatchObject({ polled: 2, failed: 0 });

    // Neither token is in the table's items, the stack's output or the CLI's.
    const { DynamoDBClient, ScanCommand } = await import('@aws-sdk/client-dynamodb');
    const db = new DynamoDBClient({ endpoint: stack.info.endpoints.dynamodb, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const items = JSON.stringify((await db.send(new ScanCommand({ TableName: stack.info.tableName }))).Items);
    db.destroy();
    expect(items).toContain('CONNECTION#conn_t');
    for (const secret of [pair.access_token, pair.refresh_token, legacy.value.token]) {
      expect(items).not.toContain(secret);
      expect(stack.output()).not.toContain(secret);
    }
  });

  it('per-connection mode, Secrets Manager token store: a token refresh whose write-back fails between Makini’s answer and the secret, and the next run saving it', async () => {
    stack = await startStackProcess({ env: { MAKINI_POLL_MODE: 'per-connection', MAKINI_TOKEN_STORE: 'secrets-manager' } });
    expect(stack.info).toMatchObject({ pollMode: 'per-connection', makiniSimulator: true });
    await (await fetch(`${stack.info.makiniApiUrl}/_simulator/connections/conn_p`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).text();
    const pairResponse = await fetch(`${stack.info.makiniApiUrl}/_simulator/connections/conn_p/pair`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessTtlSeconds: 2 * 86_400 }) });
    const pair = (await pairResponse.json()) as { access_token: string };
    const { SecretsManagerClient, CreateSecretCommand, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const { formatConnectionSecret, tokenFromResponse } = await import('../../lambdas/core/connection-secret');
    const sm = new SecretsManagerClient({ endpoint: stack.info.endpoints.secretsManager, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    const parsed = tokenFromResponse('conn_p', pair, Date.now());
    if (!parsed.ok) throw new Error(parsed.reason);
    await sm.send(new CreateSecretCommand({ Name: 'makini/connections/conn_p', SecretString: formatConnectionSecret(parsed.value) }));
    const current = async () => JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'makini/connections/conn_p' }))).SecretString ?? '{}') as { token: string };
    const poll = async () => (await (await fetch(stack!.info.pollUrl, { method: 'POST' })).json()) as Record<string, number | string>;
    try {
      // The crash: Makini answers the refresh, the write-back fails.
      writeFileSync(path.join(stack.dir, 'faults.json'), JSON.stringify({ 'secretsManager.PutSecretValue': 'unavailable' }));
      expect(await poll()).toMatchObject({ mode: 'per-connection', polled: 1, failed: 0, tokensRefreshed: 0, tokenRefreshFailed: 1 });
      expect((await current()).token).toBe(pair.access_token); // the previous pair, still usable
      rmSync(path.join(stack.dir, 'faults.json'));

      // The next run writes the refreshed pair it kept (Makini may have revoked the stored one).
      expect(await poll()).toMatchObject({ polled: 1, failed: 0, tokenRefreshFailed: 0 });
      expect((await current()).token).not.toBe(pair.access_token);
      expect(await poll()).toMatchObject({ polled: 1, tokensRefreshed: 0, tokenRefreshFailed: 0 });
      await waitFor(async () => readBusLog(stack!.info.busLog).some((e) => e['detail-type'] === 'connection.token_expiring'));
      expect(stack.output()).not.toContain(pair.access_token);
    } finally {
      sm.destroy();
    }
  });

  it("a simulated stream of Makini's notifications with duplicates and disorder: each processed once, deliveries = copies sent", async () => {
    stack = await startStackProcess();
    const options = { url: stack.info.webhookUrl, secret: stack.secret, scheme: makini, connections: 6, events: 10, duplicates: 0.25, shuffle: true, rate: 0, concurrency: 8, timeScale: 0.001, seed: 43 };
    const result = await simulate(options);
    expect(result).toMatchObject({ failed: 0, acknowledged: result.sent });
    // A notification is its connection and its bytes: {"event": …, "body": [ids]}.
    const copies = new Map<string, number>();
    for (const d of buildStream(options)) copies.set(`${d.path}|${d.body}`, (copies.get(`${d.path}|${d.body}`) ?? 0) + 1);
    const keyOf = (e: Record<string, unknown>) => {
      const event = e.event as { connectionId: string; type: string; ids: string[] };
      return `${event.connectionId}|${JSON.stringify({ event: event.type, body: event.ids })}`;
    };
    const settled = async () => {
      const events = await cliJson(stack!, 'events', '--limit', '1000');
      return events.length === copies.size && events.every((e) => e.deliveries === copies.get(keyOf(e)));
    };
    await waitFor(settled, 60_000, () => 'every simulated notification processed with all its copies counted');
    expect(readBusLog(stack.info.busLog)).toHaveLength(copies.size);
  });

  it('a simulated stream of lifecycle events with duplicates and disorder: every webhook processed once, deliveries = copies sent', async () => {
    stack = await startStackProcess();
    const options = { url: stack.info.webhookUrl, secret: stack.secret, scheme: makini, format: 'lifecycle' as const, connections: 8, events: 12, duplicates: 0.25, shuffle: true, rate: 0, concurrency: 8, timeScale: 0.001, seed: 42 };
    const result = await simulate(options);
    expect(result).toMatchObject({ failed: 0, acknowledged: result.sent });
    const copies = new Map<string, number>();
    for (const d of buildStream(options)) copies.set(d.id, (copies.get(d.id) ?? 0) + 1);
    const settled = async () => {
      const events = await cliJson(stack!, 'events', '--limit', '1000');
      return events.length === copies.size && events.every((e) => e.deliveries === copies.get(String(e.webhookId)));
    };
    await waitFor(settled, 60_000, () => 'every simulated webhook processed with all its copies counted');
    expect(readBusLog(stack.info.busLog)).toHaveLength(copies.size);
  });

  it('keeps state across a restart, and Ctrl-C shuts down cleanly', async () => {
    stack = await startStackProcess();
    expect((await post(stack, statusEvent('evt_keep', 'conn_k', 'online', '2026-11-22T05:00:00Z'))).status).toBe(200);
    await waitFor(async () => (await cliJson(stack!, 'events')).length === 1);
    const { dir } = stack;
    expect(await stack.stop()).toBe(0);
    stack = await startStackProcess({ dir });
    expect(await cliJson(stack, 'events')).toEqual([expect.objectContaining({ webhookId: 'evt_keep' })]);
  });
});
