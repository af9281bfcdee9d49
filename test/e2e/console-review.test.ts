/**
 * Review findings on the web console, each against a real local stack, the console as a child
 * process and, where a browser decides what is sent, Debian's chromium:
 * - the auth cookie, which every page on 127.0.0.1 (any port) is sent and may set (cookie tossing);
 * - API GETs from another local page (same-site: it is sent the cookie);
 * - a selection redrive over a slow SQS, while the DLQ view keeps looking (stale receipts);
 * - event filters applied before the 200-event limit;
 * - a message named twice in a redrive selection.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Browser, BrowserContext } from 'playwright-core';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { redriveMessages } from '../../bin/cli/commands/dlq';
import { resolveTarget, storeFor } from '../../bin/cli/shared';
import { launchChromium, startConsoleProcess, type ConsoleProcess } from '../support/console-process';
import { startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';

jest.setTimeout(240_000);

let stack: StackProcess;
let console_: ConsoleProcess;
let browser: Browser;
let sqs: SQSClient;

beforeAll(async () => {
  stack = await startStackProcess({ env: { MAKINI_CONSUMER_TIMEOUT_SECONDS: '1', MAKINI_MAX_RECEIVE_COUNT: '2' } });
  console_ = await startConsoleProcess(['--local-dir', stack.dir]);
  browser = await launchChromium();
  sqs = new SQSClient({ endpoint: stack.info.endpoints.sqs, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});

afterAll(async () => {
  sqs?.destroy();
  await browser?.close();
  await console_?.stop();
  await stack?.stop();
});

/** One request on 127.0.0.1 with exactly these headers (no client adds its own): status and body. */
function raw(origin: string, pathname: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: new URL(origin).port, path: pathname, method, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const bearer = (c: ConsoleProcess) => ({ authorization: `Bearer ${c.token}` });

/** A page on another port of 127.0.0.1: same-site to the console, not same-origin. */
async function foreignServer(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>another local service</title><p>foreign</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A message as the receiver writes it (an envelope of a Makini webhook), put straight into a queue. */
function envelope(webhookId: string, connectionId: string, type = 'assets.updated', receivedAt = new Date().toISOString()): string {
  return encodeEnvelope({ webhookId, connectionId, receivedAt, scheme: 'makini', requestId: `review-${webhookId}` }, Buffer.from(JSON.stringify({ event: type, body: [webhookId] })));
}

async function putDeadLetter(body: string): Promise<string> {
  return (await sqs.send(new SendMessageCommand({ QueueUrl: stack.info.deadLetterQueueUrl, MessageBody: body }))).MessageId!;
}

/** The ids in the DLQ now, visible or not yet (looked at without hiding anything). */
async function deadLetterIds(): Promise<string[]> {
  const ids = new Set<string>();
  for (let round = 0; round < 20; round++) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.info.deadLetterQueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
    const fresh = Messages.filter((m) => !ids.has(m.MessageId!));
    if (fresh.length === 0) break;
    fresh.forEach((m) => ids.add(m.MessageId!));
  }
  return [...ids];
}

async function processed(webhookId: string): Promise<boolean> {
  const { store, close } = storeFor(await resolveTarget({ localDir: stack.dir }));
  try {
    return (await store.getWebhook(webhookId))?.status === 'DONE';
  } finally {
    close();
  }
}

describe('the auth cookie and cross-site requests', () => {
  let context: BrowserContext;
  let foreign: { origin: string; server: Server };

  beforeAll(async () => {
    foreign = await foreignServer();
    context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(console_.url);
    await page.waitForSelector('header');
  });

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => foreign?.server.close(resolve));
  });

  /** The console's cookie name (never its value: that is the token). */
  async function cookieName(): Promise<string> {
    const names = (await context.cookies(console_.origin)).map((c) => c.name).filter((n) => n.startsWith('makini_console_'));
    expect(names).toHaveLength(1);
    return names[0];
  }

  it('the cookie is named for this console instance: only that name opens it, and a same-named cookie tossed by another local page does not lock the user out', async () => {
    const name = await cookieName();
    const { port } = new URL(console_.origin);
    // The port and a random id: no other page can guess it, no other console answers to it.
    expect(name).toMatch(new RegExp(`^makini_console_${port}_[0-9a-f]{16}$`));
    // The right token under a name that is not this console's: refused.
    expect((await raw(console_.origin, '/api/info', { cookie: `makini_console_${port}=${console_.token}` })).status).toBe(401);

    // Another service on 127.0.0.1 sets cookies of that very name (cookies ignore ports). The one
    // for /api is more specific: the browser sends it first.
    const attacker = await context.newPage();
    await attacker.goto(foreign.origin);
    await attacker.evaluate((n) => {
      const doc = (globalThis as unknown as { document: { cookie: string } }).document;
      doc.cookie = `${n}=forged; Path=/api`;
      doc.cookie = `${n}=forged-too; Path=/api/dlq`;
    }, name);
    await attacker.close();
    const tossed = (await context.cookies()).filter((c) => c.name === name);
    expect(tossed.length).toBeGreaterThan(1); // the toss took: the browser now sends several

    const page = await context.newPage();
    await page.goto(`${console_.origin}/#/dlq`);
    expect(await page.evaluate(async () => Promise.all(['/api/info', '/api/dlq'].map(async (p) => (await fetch(p)).status)))).toEqual([200, 200]);
    await page.waitForSelector('[data-test=dlq], [data-test=dlq-empty]');
    expect(await page.locator('main [role=alert]').count()).toBe(0);
    await page.close();

    // A forged value alone (the token unknown) opens nothing.
    expect((await raw(console_.origin, '/api/info', { cookie: `${name}=forged` })).status).toBe(401);
  });

  it('refuses API GETs from another local page (same-site, sent the cookie), yet answers its own page and bearer clients', async () => {
    await putDeadLetter(envelope(`xsite-${randomUUID()}`, 'conn_xsite'));
    // A navigation from the other page carries the cookie (same-site): the DLQ's bodies must not be shown.
    const attacker = await context.newPage();
    await attacker.goto(foreign.origin);
    const [response] = await Promise.all([attacker.waitForNavigation(), attacker.evaluate((u) => ((globalThis as unknown as { location: { href: string } }).location.href = u), `${console_.origin}/api/dlq`)]);
    expect(response?.status()).toBe(403);
    expect(await attacker.content()).not.toContain('conn_xsite');
    await attacker.close();

    const name = await cookieName();
    const cookie = (await context.cookies(console_.origin)).find((c) => c.name === name && c.path === '/')!;
    const withCookie = { cookie: `${name}=${cookie.value}` };
    for (const pathname of ['/api/dlq', '/api/events', '/api/info']) {
      expect([pathname, (await raw(console_.origin, pathname, { ...withCookie, 'sec-fetch-site': 'same-site' })).status]).toEqual([pathname, 403]);
      expect([pathname, (await raw(console_.origin, pathname, { ...withCookie, 'sec-fetch-site': 'cross-site' })).status]).toEqual([pathname, 403]);
      // Typed into the address bar: the API is for the page, not for browsing.
      expect([pathname, (await raw(console_.origin, pathname, { ...withCookie, 'sec-fetch-site': 'none' })).status]).toEqual([pathname, 403]);
      expect([pathname, (await raw(console_.origin, pathname, { ...bearer(console_), origin: foreign.origin })).status]).toEqual([pathname, 403]);
      // The console's own page, and a client that is no browser: answered.
      expect([pathname, (await raw(console_.origin, pathname, { ...withCookie, 'sec-fetch-site': 'same-origin' })).status]).toEqual([pathname, 200]);
      expect([pathname, (await raw(console_.origin, pathname, bearer(console_))).status]).toEqual([pathname, 200]);
    }
    // The page itself may still be opened from the address bar.
    expect((await raw(console_.origin, '/', { ...withCookie, 'sec-fetch-site': 'none' })).status).toBe(200);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An HTTP proxy in front of the local SQS that holds every SendMessage until `hold` settles: a slow
 * network, as a redrive over a distant region meets it. Counts the sends per message body, and the
 * visibility changes SQS refused (a stale receipt).
 */
async function slowSqs(hold: () => Promise<unknown>): Promise<{ url: string; sends: Map<string, number>; refusedVisibilityChanges(): number; close(): Promise<void> }> {
  const upstream = new URL(stack.info.endpoints.sqs);
  const sends = new Map<string, number>();
  let refused = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const slow = req.headers['x-amz-target'] === 'AmazonSQS.SendMessage';
      if (slow) {
        const key = String((JSON.parse(body.toString('utf8')) as { MessageBody?: string }).MessageBody);
        sends.set(key, (sends.get(key) ?? 0) + 1);
      }
      void (slow ? hold() : Promise.resolve()).then(() => {
        const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
        const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (up) => {
          if (req.headers['x-amz-target'] === 'AmazonSQS.ChangeMessageVisibility' && up.statusCode !== 200) refused++;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        out.on('error', () => res.destroy());
        out.end(body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sends,
    refusedVisibilityChanges: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A state directory naming the same local stack, but reaching its SQS through `sqsUrl`. */
function localDirVia(sqsUrl: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'console-slow-sqs-'));
  const info = JSON.parse(readFileSync(path.join(stack.dir, 'stack.json'), 'utf8')) as { endpoints: Record<string, string> };
  writeFileSync(path.join(dir, 'stack.json'), JSON.stringify({ ...info, endpoints: { ...info.endpoints, sqs: sqsUrl } }));
  return dir;
}

/** What the console's DLQ view does when it refreshes: each look is a receive, and gives the messages visible new receipts. */
const lookAtDeadLetters = () => raw(console_.origin, '/api/dlq', bearer(console_));

/** The DLQ view left open: a look every second. */
function keepLooking(): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await lookAtDeadLetters();
      await sleep(1000);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

describe('redrive of a selection', () => {
  it('over a slow SQS, with the DLQ view open: what is reported moved is gone from the DLQ and processed, and the rest stays', async () => {
    const proxy = await slowSqs(() => sleep(7000)); // longer than the 5 s the redrive once hid its messages for
    const slowConsole = await startConsoleProcess(['--local-dir', localDirVia(proxy.url)]);
    const webhooks = [`slow-a-${randomUUID()}`, `slow-b-${randomUUID()}`];
    const selected = [await putDeadLetter(envelope(webhooks[0], 'conn_slow')), await putDeadLetter(envelope(webhooks[1], 'conn_slow'))];
    const left = await putDeadLetter(envelope(`slow-left-${randomUUID()}`, 'conn_slow'));
    const stopLooking = keepLooking();
    try {
      const answer = await raw(slowConsole.origin, '/api/dlq/redrive', { ...bearer(slowConsole), 'content-type': 'application/json' }, 'POST', JSON.stringify({ messageIds: selected }));
      await stopLooking();
      expect(answer).toEqual({ status: 200, body: JSON.stringify({ moved: 2, status: 'COMPLETED' }) });
      const remaining = await deadLetterIds();
      expect(selected.filter((id) => remaining.includes(id))).toEqual([]);
      expect(remaining).toContain(left);
      await waitFor(async () => (await processed(webhooks[0])) && (await processed(webhooks[1])), 60_000, () => 'the moved messages to be processed');
    } finally {
      await stopLooking();
      await slowConsole.stop();
      await proxy.close();
    }
  });

  it('a receipt that went stale (the DLQ view received the message meanwhile) is not trusted: the message is received again and deleted, its copy sent once', async () => {
    // Hidden for 2 s only, with a send that takes longer: the view looks once the 2 s are out (and
    // receives the message), then the send goes through; the receipt the redrive holds is stale.
    const proxy = await slowSqs(async () => {
      await sleep(2500);
      await lookAtDeadLetters();
    });
    const webhookId = `stale-${randomUUID()}`;
    const body = envelope(webhookId, 'conn_stale');
    const messageId = await putDeadLetter(body);
    try {
      const moved = await redriveMessages(await resolveTarget({ localDir: localDirVia(proxy.url) }), [messageId], { visibilitySeconds: 2 });
      expect(moved).toEqual([messageId]);
      expect(await deadLetterIds()).not.toContain(messageId);
      expect(proxy.sends.get(body)).toBe(1);
      expect(proxy.refusedVisibilityChanges()).toBeGreaterThan(0); // the stale receipt was found out, not trusted
      await waitFor(() => processed(webhookId), 60_000, () => 'the moved message to be processed');
    } finally {
      await proxy.close();
    }
  });

  it('a message named twice in the selection is moved once, and the redrive is COMPLETED', async () => {
    const webhookId = `twice-${randomUUID()}`;
    const messageId = await putDeadLetter(envelope(webhookId, 'conn_twice'));
    const answer = await raw(console_.origin, '/api/dlq/redrive', { ...bearer(console_), 'content-type': 'application/json' }, 'POST', JSON.stringify({ messageIds: [messageId, messageId] }));
    expect(answer).toEqual({ status: 200, body: JSON.stringify({ moved: 1, status: 'COMPLETED' }) });
    expect(await deadLetterIds()).not.toContain(messageId);
    await waitFor(() => processed(webhookId), 60_000, () => 'the moved message to be processed');
  });
});

describe('event filters', () => {
  it('find a match older than the newest 200 events of all (by type, by time, by connection and type)', async () => {
    // One old event of its own type, then 205 newer ones of the same connection: all processed.
    const old = `old-${randomUUID()}`;
    const newer = Array.from({ length: 205 }, (_, i) => `newer-${i}-${randomUUID()}`);
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.info.queueUrl, MessageBody: envelope(old, 'conn_many', 'sites.inserted', '2021-01-01T00:00:00.000Z') }));
    for (let i = 0; i < newer.length; i += 10) {
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: stack.info.queueUrl, Entries: newer.slice(i, i + 10).map((id, j) => ({ Id: String(j), MessageBody: envelope(id, 'conn_many') })) }));
    }
    const { store, close } = storeFor(await resolveTarget({ localDir: stack.dir }));
    try {
      await waitFor(async () => (await store.listEvents('conn_many', Number.POSITIVE_INFINITY)).length >= 206, 180_000, () => 'the 206 events to be processed');
    } finally {
      close();
    }

    const events = async (query: string) => {
      const { status, body } = await raw(console_.origin, `/api/events?${query}`, bearer(console_));
      expect(status).toBe(200);
      return (JSON.parse(body) as { webhookId: string }[]).map((e) => e.webhookId);
    };
    expect(await events('type=sites.inserted')).toEqual([old]);
    expect(await events('until=2021-06-01T00:00:00Z')).toEqual([old]);
    expect(await events('connection=conn_many&type=sites.inserted')).toEqual([old]);
    expect(await events('connection=conn_many&since=2020-01-01T00:00:00Z&until=2021-06-01T00:00:00Z')).toEqual([old]);
    // The limit still holds, after the filter.
    expect(await events('connection=conn_many')).toHaveLength(200);
    expect(await events('type=assets.updated')).toHaveLength(200);
  });
});
