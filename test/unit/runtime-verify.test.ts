/**
 * Review of `verifyWebhook` (lambdas/runtime.ts), the consumer-facing signature check of the
 * package's `makini-webhook-ingestion/runtime` entry. It promises to check "as the receiver does";
 * these tests hold it to that.
 */
import { createHmac } from 'node:crypto';
import { ConfigError, resolveConfig } from '../../lambdas/config/config';
import { verifyWebhook } from '../../lambdas/runtime';
import type { MakiniWebhookSettings } from '../../lib/settings';

const BODY = '{"event":"assets.updated","body":["1"]}';
const hmacB64 = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest('base64');

describe('verifyWebhook refuses what the receiver refuses', () => {
  it('refuses an empty signing secret instead of accepting a signature anyone can compute', () => {
    // The receiver refuses an empty secret (parseSigningSecrets: "it is empty"). A consumer whose
    // secret variable is empty (MAKINI_SECRET= ) must not accept HMAC under the empty key: that is a forgery.
    const forged = hmacB64('', BODY);
    const result = verifyWebhook({ body: BODY, headers: { 'x-webhook-signature': forged }, secrets: '' });
    expect(result.ok).toBe(false);
  });

  it('refuses an empty secret in a rotation list', () => {
    const forged = hmacB64('', BODY);
    const result = verifyWebhook({ body: BODY, headers: { 'x-webhook-signature': forged }, secrets: ['real-secret', ''] });
    expect(result.ok).toBe(false);
  });

  it('standard-webhooks: a secret whose key decodes to nothing does not make every empty-key signature valid', () => {
    // `whsec_` + base64 is the format; a secret that is not base64 (here `!!!!`) decodes to an empty
    // HMAC key, so a signature computed with the empty key passes. It must be refused (or throw a
    // clear error), never accepted.
    const now = 1_800_000_000;
    const id = 'msg_1';
    const forged = createHmac('sha256', Buffer.alloc(0)).update(`${id}.${now}.${BODY}`).digest('base64');
    let result: ReturnType<typeof verifyWebhook> | undefined;
    try {
      result = verifyWebhook({
        body: BODY,
        headers: { 'webhook-id': id, 'webhook-timestamp': String(now), 'webhook-signature': `v1,${forged}` },
        secrets: 'whsec_!!!!',
        settings: { signatureScheme: 'standard-webhooks' },
        nowSeconds: now,
      });
    } catch {
      result = undefined; // a clear refusal of the secret is acceptable
    }
    expect(result?.ok ?? false).toBe(false);
  });

  it('returns a result rather than a TypeError when the secret is missing (an unset variable in JS)', () => {
    const sig = hmacB64('S', BODY);
    const call = () => verifyWebhook({ body: BODY, headers: { 'x-webhook-signature': sig }, secrets: undefined as unknown as string });
    expect(call()).toEqual({ ok: false, code: 'INVALID_SIGNATURE', reason: expect.stringMatching(/secret/) });
  });

  it('returns a result rather than a TypeError when the body is not a string or bytes (an already-parsed JSON body)', () => {
    const sig = hmacB64('S', BODY);
    let outcome: unknown;
    try {
      outcome = verifyWebhook({ body: JSON.parse(BODY) as unknown as string, headers: { 'x-webhook-signature': sig }, secrets: 'S' });
    } catch (error) {
      outcome = error;
    }
    expect(outcome).not.toBeInstanceOf(TypeError);
    expect((outcome as { ok?: boolean }).ok).toBe(false);
  });

  it('treats the secret as the receiver does: surrounding white space is ignored (a secret read from a file)', () => {
    // The receiver trims each secret (parseSigningSecrets); verifyWebhook must accept what the receiver accepts.
    const sig = hmacB64('S', BODY);
    const result = verifyWebhook({ body: BODY, headers: { 'x-webhook-signature': sig }, secrets: 'S\n' });
    expect(result.ok).toBe(true);
  });

  it('standard-webhooks: an unusable clock (nowSeconds NaN) does not switch off the replay window', () => {
    // Math.abs(NaN - timestamp) > tolerance is false, so every timestamp, however old, passes.
    const secret = `whsec_${Buffer.from('k'.repeat(32)).toString('base64')}`;
    const old = 1_000_000_000; // 2001
    const id = 'msg_replayed';
    const sig = createHmac('sha256', Buffer.from('k'.repeat(32))).update(`${id}.${old}.${BODY}`).digest('base64');
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(old), 'webhook-signature': `v1,${sig}` };
    const settings = { signatureScheme: 'standard-webhooks' as const };
    // Sanity: with a real clock this years-old delivery is refused as a replay.
    expect(verifyWebhook({ body: BODY, headers, secrets: secret, settings, nowSeconds: 1_800_000_000 }).ok).toBe(false);
    let result: ReturnType<typeof verifyWebhook> | undefined;
    try {
      result = verifyWebhook({ body: BODY, headers, secrets: secret, settings, nowSeconds: Number.NaN });
    } catch {
      result = undefined; // refusing the bad clock loudly is fine
    }
    expect(result?.ok ?? false).toBe(false);
  });
});

describe('verifyWebhook takes the construct’s own settings', () => {
  const signed = (settings: Parameters<typeof verifyWebhook>[0]['settings'], header: string) =>
    verifyWebhook({ body: BODY, headers: { [header]: createHmac('sha512', 'S').update(BODY).digest('base64') }, secrets: 'S', settings });

  it('the settings given to MakiniWebhookIngestion, with their other keys ignored', () => {
    // What a user passes as `config` to the construct, reused as is (a MakiniWebhookSettings).
    const construct: MakiniWebhookSettings = { signatureHeaders: ['X-Signature'], signatureAlgorithm: 'sha512', receiverMemoryMB: 512, pollIntervalMinutes: 5 };
    expect(signed(construct, 'x-signature')).toMatchObject({ ok: true, form: 'raw' });
    expect(signed({ ...construct, signatureAlgorithm: 'sha256' }, 'x-signature').ok).toBe(false);
  });

  it('a resolved config, and an invalid signature setting is still the construct’s ConfigError', () => {
    expect(signed(resolveConfig({ signatureHeaders: ['X-Signature'], signatureAlgorithm: 'sha512' }), 'x-signature').ok).toBe(true);
    expect(() => signed({ signatureAlgorithm: 'md5' }, 'x-signature')).toThrow(ConfigError);
  });
});
