import { createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import fc from 'fast-check';
import { resolveConfig, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { standardWebhooksScheme } from '../../lambdas/core/signature';
import { createReceiverHandler } from '../../lambdas/receiver/receiver';
import { apiGatewayEvent } from '../support/api-gateway-event';

const SECRET = 'fuzz-signing-secret-91c2';
const STD_SECRET = `whsec_${Buffer.from('fuzz standard webhooks key').toString('base64')}`;
const NOW = Date.parse('2026-11-22T06:00:00Z');

/** A request, and whether it carries a valid signature by construction. */
const arbRequest = (scheme: MakiniWebhookConfig['signatureScheme']) =>
  fc
    .record({
      method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'post'),
      body: fc.oneof(fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b)), fc.json().map((j) => Buffer.from(j)), fc.constant(Buffer.alloc(0))),
      base64: fc.boolean(),
      sign: fc.constantFrom('valid', 'valid', 'garbage', 'wrong-secret', 'none', 'truncated'),
      garbage: fc.string({ maxLength: 200 }),
      extraHeaders: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.string({ maxLength: 100 }), { maxKeys: 5 }),
      skewSeconds: fc.integer({ min: -1000, max: 1000 }),
      upperCaseHeaders: fc.boolean(),
    })
    .map((r) => {
      const headers: Record<string, string> = { ...r.extraHeaders };
      let valid = false;
      if (scheme === 'makini') {
        const digest = (secret: string) => `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
        if (r.sign === 'valid') (headers['x-makini-signature'] = digest(SECRET)), (valid = true);
        if (r.sign === 'wrong-secret') headers['x-makini-signature'] = digest('not-the-secret');
        if (r.sign === 'truncated') headers['x-makini-signature'] = digest(SECRET).slice(0, 40);
        if (r.sign === 'garbage') headers['x-makini-signature'] = r.garbage;
      } else {
        const timestamp = Math.floor(NOW / 1000) + r.skewSeconds;
        const signed = standardWebhooksScheme(300).sign(r.body, r.sign === 'wrong-secret' ? `whsec_${Buffer.from('other key').toString('base64')}` : STD_SECRET, { id: 'msg_fuzz', timestamp });
        if (r.sign === 'valid' || r.sign === 'wrong-secret') Object.assign(headers, signed);
        if (r.sign === 'truncated') Object.assign(headers, signed, { 'webhook-signature': signed['webhook-signature'].slice(0, 20) });
        if (r.sign === 'garbage') Object.assign(headers, signed, { 'webhook-signature': r.garbage });
        valid = r.sign === 'valid' && Math.abs(r.skewSeconds) <= 300;
      }
      const cased = r.upperCaseHeaders ? Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v])) : headers;
      const acceptable = valid && r.method.toUpperCase() === 'POST' && r.body.length > 0 && r.body.length <= 1024;
      return { event: apiGatewayEvent({ method: r.method, headers: cased, body: r.body, base64: r.base64 || !isText(r.body) }), body: r.body, acceptable };
    });

/** Bytes that survive a round trip through a UTF-8 string; others must travel base64-encoded. */
const isText = (b: Buffer) => Buffer.from(b.toString('utf8'), 'utf8').equals(b);

describe.each(['makini', 'standard-webhooks'] as const)('receiver under random input (%s scheme)', (scheme) => {
  it('never throws, never answers 5xx but an injected 503, and never enqueues anything unverified', async () => {
    const seen = { accepted: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(arbRequest(scheme), fc.constantFrom('none', 'none', 'none', 'secrets', 'queue'), async (request, fault) => {
        const enqueued: string[] = [];
        const config = resolveConfig({ signatureScheme: scheme, maxBodyBytes: 1024 });
        const handle = createReceiverHandler({
          config,
          secrets: {
            get: async () => {
              if (fault === 'secrets') throw new Error('injected');
              return [scheme === 'makini' ? SECRET : STD_SECRET];
            },
            refresh: async () => undefined,
          },
          queue: {
            send: async (m) => {
              if (fault === 'queue') throw new Error('injected');
              enqueued.push(m);
            },
          },
          logger: new Logger({ serviceName: 'receiver', logLevel: 'SILENT' }),
          metrics: new Metrics({ namespace: 'Fuzz', serviceName: 'receiver' }),
          now: () => NOW,
        });
        const result = await handle(request.event);
        const status = result.statusCode ?? 0;
        if (status >= 500) expect(status === 503 && fault !== 'none').toBe(true);
        // Exactly one message for a 200 (nothing acknowledged is lost), none for any other answer.
        expect(enqueued).toHaveLength(status === 200 ? 1 : 0);
        if (status === 200) {
          expect(request.acceptable).toBe(true);
          expect(decodeEnvelope(enqueued[0]!).body.equals(request.body)).toBe(true);
        }
        if (request.acceptable && fault === 'none') expect(status).toBe(200);
        seen[status === 200 ? 'accepted' : 'rejected']++;
        // Every answer is JSON: a receipt, or a structured error with a code; and it carries a request id.
        const answer = JSON.parse(result.body ?? '') as { received?: boolean; error?: { code?: unknown } };
        expect(status === 200 ? answer.received === true : typeof answer.error?.code === 'string').toBe(true);
        expect(result.headers?.['x-request-id']).toMatch(/\S/);
      }),
      { numRuns: 400, seed: 20261122 },
    );
    // The generator reaches both sides: the property is not vacuous.
    expect(seen.accepted).toBeGreaterThan(5);
    expect(seen.rejected).toBeGreaterThan(100);
  });
});
