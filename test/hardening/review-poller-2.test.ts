/**
 * Adversarial review (second pass) of the poller change: the CLI (`connections add/list/remove`,
 * `poll`), the local stack's Makini modes, the token-secret adapter's in-memory unsaved pairs, and
 * the new config keys. Real HTTP on 127.0.0.1 (local Secrets Manager, Makini simulator, the local
 * stack in this process). Each `it` names what should hold; the ones failing today show a bug.
 */
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, resolveConfig } from '../../lambdas/config/config';
import { SecretsManagerConnectionTokens, type StoredConnectionToken } from '../../lambdas/adapters/secrets-manager-connection-tokens';
import { formatConnectionSecret, tokenDue, tokenFromResponse } from '../../lambdas/core/connection-secret';
import { pollerSettings } from '../../lambdas/poller/poller';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startMakiniApiSimulator } from '../../local/makini-api-simulator';
import { startStackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(60_000);

const DAY = 86_400_000;
const PREFIX = 'makini/connections/';

describe('local stack: Makini modes across restarts (npm start)', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('MAKINI_API_URL alone polls per connection, as stack.json says, even if an earlier start with the bundled simulator stored its credentials', async () => {
    // First `npm start`: the bundled simulator in system mode (its generated credentials go to the secret).
    const first = await startStackProcess();
    closers.push(first.stop);
    expect(first.info.pollMode).toBe('system');
    await first.stop();

    // Restart in the same state directory against "your" Makini (here another simulator), with a
    // per-connection token secret: `MAKINI_API_URL=… npm start`.
    const real = await startMakiniApiSimulator();
    closers.push(real.close);
    real.upsertConnection('conn_x', { sync_status: 'done', sync_updated_at: new Date().toISOString() });
    const stack = await startStackProcess({ dir: first.dir, env: { MAKINI_API_URL: real.url } });
    closers.push(stack.stop);
    expect(stack.info).toMatchObject({ pollMode: 'per-connection', makiniSimulator: false });
    expect(stack.output()).toMatch(/polled in per-connection mode/);

    const parsed = tokenFromResponse('conn_x', real.issuePair('conn_x'), Date.now());
    if (!parsed.ok) throw new Error(parsed.reason);
    const sm = new SecretsManagerClient({ endpoint: stack.info.endpoints.secretsManager, maxAttempts: 1 });
    closers.push(async () => sm.destroy());
    await sm.send(new CreateSecretCommand({ Name: `${PREFIX}conn_x`, SecretString: formatConnectionSecret(parsed.value) }));

    // The poller must run in the mode the stack announced, with the token the user stored; today it
    // reads the first start's leftover simulator credentials (pollMode auto) and fails on a 401.
    const polled = await cli(['poll', '--json', '--local-dir', stack.dir]);
    expect({ code: polled.code, stderr: polled.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(polled.stdout)).toMatchObject({ mode: 'per-connection', connections: 1, polled: 1, failed: 0 });
  });
});

describe('SecretsManagerConnectionTokens: a refreshed pair kept in memory after a failed write-back', () => {
  let sm: LocalSecretsManager;
  let client: SecretsManagerClient;
  let fault: string | undefined;
  beforeEach(async () => {
    fault = undefined;
    sm = await startLocalSecretsManager({ fault: (operation) => (operation === fault ? 'unavailable' : undefined) });
    client = new SecretsManagerClient({ endpoint: sm.url, maxAttempts: 1 });
  });
  afterEach(async () => {
    client.destroy();
    await sm.close();
  });

  it('does not overwrite a new pair an operator stored meanwhile (connections add after a reauthorization)', async () => {
    const name = `${PREFIX}conn_u`;
    const expiry = (days: number) => new Date(Date.now() + days * DAY).toISOString();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: formatConnectionSecret({ connectionId: 'conn_u', token: 'at_old', refreshToken: 'rt_old', expiresAt: expiry(2), refreshExpiresAt: expiry(3) }) }));
    const tokens = new SecretsManagerConnectionTokens(client, { prefix: PREFIX, cacheSeconds: 0 });
    expect((await tokens.discover()).tokens[0].token).toBe('at_old');

    // The poller refreshed the pair; writing it back fails (throttled, or a missing permission).
    fault = 'PutSecretValue';
    const refreshed: StoredConnectionToken = { connectionId: 'conn_u', token: 'at_refreshed', refreshToken: 'rt_refreshed', expiresAt: expiry(30), refreshExpiresAt: expiry(31), location: name };
    await expect(tokens.writeBack(refreshed)).rejects.toThrow();
    fault = undefined;

    // Meanwhile the operator issues a new pair on Makini's dashboard and stores it, as the runbook
    // says (`connections add`, a PutSecretValue), which revokes nothing of ours but supersedes it.
    const operator = formatConnectionSecret({ connectionId: 'conn_u', token: 'at_operator', refreshToken: 'rt_operator', expiresAt: expiry(30), refreshExpiresAt: expiry(31) });
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: operator }));

    // The next run must use, and keep, what the operator stored, not write the older in-memory pair over it.
    const { tokens: found } = await tokens.discover();
    expect(found.map((t) => t.token)).toEqual(['at_operator']);
    expect(JSON.parse(sm.values()[name]).token).toBe('at_operator');
  });
});

describe('makini-webhooks connections', () => {
  let sm: LocalSecretsManager;
  let env: Record<string, string>;
  beforeEach(async () => {
    sm = await startLocalSecretsManager();
    // The Secrets Manager store, with ambient credentials (no stack): the table store is the default.
    env = { AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url, MAKINI_TOKEN_STORE: 'secrets-manager' };
  });
  afterEach(async () => sm.close());

  it('can add a connection again after removing it (the default 7-day recovery window)', async () => {
    expect((await cli(['connections', 'add', 'conn_back'], 'at_first_1234', env)).code).toBe(0);
    expect((await cli(['connections', 'remove', 'conn_back'], undefined, env)).code).toBe(0);
    // Removed by mistake, or the customer reconnected: storing its token again must work (or say how).
    const again = await cli(['connections', 'add', 'conn_back'], 'at_second_5678', env);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(sm.values()[`${PREFIX}conn_back`]).token).toBe('at_second_5678');
  });
});

describe('config: the new poller keys', () => {
  it('refuses a refreshTokenWarningDays that warns about every healthy pair before its refresh is due', () => {
    // Makini's pair: access token 30 days, refresh token 31. With a 7-day margin the pair is refreshed
    // at day 23; a 10-day warning fires at day 21 for every healthy connection, every cycle.
    let config;
    try {
      config = resolveConfig({ tokenRefreshMarginDays: 7, refreshTokenWarningDays: 10 });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError); // refused: fine
      return;
    }
    const settings = pollerSettings(config);
    const issued = Date.parse('2026-01-01T00:00:00Z');
    const pair = { connectionId: 'c', token: 'a', refreshToken: 'r', expiresAt: new Date(issued + 30 * DAY).toISOString(), refreshExpiresAt: new Date(issued + 31 * DAY).toISOString() };
    const warnedBeforeRefresh: number[] = [];
    for (let day = 0; day < 30; day++) {
      const due = tokenDue(pair, issued + day * DAY, settings);
      if (due.refresh) break;
      if (due.warn) warnedBeforeRefresh.push(day);
    }
    expect(warnedBeforeRefresh).toEqual([]);
  });

  it('a 2-minute poll interval, valid before this change, still validates with the default poller timeout', () => {
    expect(() => resolveConfig({ pollIntervalMinutes: 2 })).not.toThrow();
  });
});
