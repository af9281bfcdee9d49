/**
 * The web console in a real browser (Debian's chromium through playwright-core), against a real
 * local stack: send a test webhook and see it; open it; break the consumer, watch the message reach
 * the DLQ, redrive it and see it processed; a hostile body renders as text; read-only; the token,
 * Host and Origin checks. Each view is photographed (into MAKINI_SCREENSHOTS, `npm run
 * screenshots` writes docs/screenshots/).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { readBusLog } from '../../local/aws/eventbridge';
import { launchChromium, startConsoleProcess, type ConsoleProcess } from '../support/console-process';
import { startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(240_000);

const SHOTS = process.env.MAKINI_SCREENSHOTS ?? mkdtempSync(path.join(tmpdir(), 'console-shots-'));
mkdirSync(SHOTS, { recursive: true });

let stack: StackProcess;
let console_: ConsoleProcess;
let browser: Browser;
let page: Page;
/** What the browser refused under the CSP while the tests used the page: nothing, or the page relies on something it may not do. */
const cspViolations: string[] = [];

beforeAll(async () => {
  // Consumer timeout 1 s (visibility 6 s) and two receives: a failing message reaches the DLQ quickly.
  stack = await startStackProcess({ env: { MAKINI_CONSUMER_TIMEOUT_SECONDS: '1', MAKINI_MAX_RECEIVE_COUNT: '2' } });
  console_ = await startConsoleProcess(['--local-dir', stack.dir]);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(console_.url);
});

afterAll(async () => {
  await browser?.close();
  await console_?.stop();
  await stack?.stop();
});

const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `console-${name}.png`), fullPage: true });

/** Fills the test-webhook form and confirms; answers the outcome line the page shows. */
async function sendFromPage(fields: { ids?: string; connection?: string; type?: string }, photograph = false): Promise<string> {
  await page.click('nav >> text=Send a test webhook');
  if (fields.type !== undefined) await page.fill('input[name=type]', fields.type);
  await page.fill('input[name=ids]', fields.ids ?? '');
  await page.fill('input[name=connection]', fields.connection ?? '');
  await page.click('[data-test=send]');
  await page.waitForSelector('[role=alertdialog]');
  if (photograph) await shot('send');
  await page.click('[data-test=confirm]');
  return (await page.waitForSelector('[role=status], [role=alert]')).innerText();
}

describe('the web console in chromium', () => {
  it('prints its URL with a token first, and the token is the only way in', async () => {
    expect(console_.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    expect((await fetch(`${console_.origin}/api/info`)).status).toBe(401);
    expect((await fetch(`${console_.origin}/api/info`, { headers: { authorization: `Bearer ${console_.token.slice(0, -1)}x` } })).status).toBe(401);
    expect((await fetch(`${console_.origin}/?token=nope`, { redirect: 'manual' })).status).toBe(401);
    const ok = await fetch(`${console_.origin}/api/info`, { headers: { authorization: `Bearer ${console_.token}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self' 'sha256-[^']+'; style-src 'self'/);
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin on a mutating request', async () => {
    const raw = (headers: Record<string, string>, method = 'GET', body?: string) =>
      new Promise<number>((resolve, reject) => {
        const { port } = new URL(console_.origin);
        const r = request({ host: '127.0.0.1', port, path: method === 'GET' ? '/api/info' : '/api/send', method, headers: { authorization: `Bearer ${console_.token}`, ...headers } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        r.on('error', reject);
        r.end(body);
      });
    expect(await raw({ host: 'attacker.example:80' })).toBe(403);
    expect(await raw({ 'content-type': 'application/json', origin: 'http://attacker.example' }, 'POST', '{}')).toBe(403);
    // Not JSON (what an HTML form could send): refused before anything is done.
    expect(await raw({ 'content-type': 'text/plain' }, 'POST', '{}')).toBe(415);
  });

  it('sends a signed test webhook, shows it in the live stream, and opens it', async () => {
    const outcome = await sendFromPage({ ids: 'console-id-1,console-id-2', connection: 'conn_console' }, true);
    expect(outcome).toMatch(/\/webhooks\/conn_console answered 200 .*"received":true/);

    await page.click('nav >> text=Event stream');
    // Live: the row appears, then turns to done once the consumer has processed it.
    // Locators, not element handles: the live view re-renders its rows every 2 s.
    const row = page.locator('[data-test=events] tr:has-text("console-id-1"):has-text("done")').first();
    await row.waitFor();
    expect(await row.innerText()).toMatch(/assets\.updated\s+conn_console\s+webhook\s+1\s+done/);
    await shot('events');

    // Filters: by connection, type and event time.
    await page.fill('input[name=connection]', 'conn_console');
    await page.fill('input[name=type]', 'assets.updated');
    await page.fill('input[name=since]', '2020-01-01T00:00:00Z');
    await page.waitForSelector('[data-test=events] tr:has-text("console-id-1")');
    await page.fill('input[name=since]', '2999-01-01T00:00:00Z');
    expect(await (await page.waitForSelector('[data-test=no-events]')).innerText()).toBe('No event matches these filters.');
    await page.fill('input[name=since]', '');
    await page.fill('input[name=type]', 'sites.inserted');
    await page.waitForSelector('[data-test=no-events]');
    await page.fill('input[name=type]', '');
    await page.fill('input[name=connection]', '');
    await page.locator('[data-test=events] tr:has-text("console-id-1")').first().click();
    await page.waitForSelector('[data-test=event-detail] [data-test=bus]');
    expect(await page.innerText('[data-test=body]')).toContain('"console-id-1"');
    expect(await page.innerText('[data-test=outcome]')).toBe('done');
    expect(await page.innerText('[data-test=bus]')).toContain('conn_console');
    await shot('event');
  });

  it('renders a body holding <script> as text, and runs nothing from it', async () => {
    const hostile = '<script>window.__pwned=1</script>,<img src=x onerror="window.__pwned=2">';
    await sendFromPage({ ids: hostile });
    await page.click('nav >> text=Event stream');
    await page.locator('[data-test=events] tr:has-text("window.__pwned")').first().click();
    const body = await page.waitForSelector('[data-test=body]');
    expect(await body.innerText()).toContain('<script>window.__pwned=1</script>');
    expect(await body.innerText()).toContain('<img src=x onerror=\\"window.__pwned=2\\">');
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#app script, #app img').count()).toBe(0);
  });

  it('a message the consumer cannot process reaches the DLQ with its reason; redriven after the fix, it is processed', async () => {
    writeFileSync(path.join(stack.dir, 'faults.json'), JSON.stringify({ eventBridge: 'unavailable' })); // every publish fails
    try {
      expect(await sendFromPage({ ids: 'poison-1', connection: 'conn_dlq' })).toMatch(/answered 200/);
      await page.click('nav >> text=Dead-letter queue');
      // The view refreshes itself; the message arrives after two failed receives.
      const row = page.locator('[data-test=dlq] tr:has-text("conn_dlq")').first();
      await row.waitFor({ timeout: 120_000 });
      expect(await row.locator('[data-test=reason]').innerText()).toMatch(/event bus did not accept/);
      await shot('dlq');
    } finally {
      rmSync(path.join(stack.dir, 'faults.json'), { force: true }); // the fix
    }
    const busBefore = readBusLog(stack.info.busLog).length;
    await page.click('[data-test=dlq] tr:has-text("conn_dlq") [data-test=redrive-one]');
    expect(await page.innerText('[role=alertdialog]')).toMatch(/Move message .* back to the webhook queue\?/);
    await page.click('[data-test=confirm]');
    expect(await (await page.waitForSelector('[role=status]')).innerText()).toMatch(/Redrive COMPLETED: 1 message\(s\) moved/);
    await page.waitForSelector('[data-test=dlq-empty]');

    await waitFor(() => readBusLog(stack.info.busLog).length > busBefore, 60_000, () => 'the redriven message to be processed');
    await page.click('nav >> text=Event stream');
    const processed = page.locator('[data-test=events] tr:has-text("poison-1"):has-text("done")').first();
    await processed.waitFor();
    expect(await processed.innerText()).toMatch(/conn_dlq.*done/s);
  });

  it('replays a connection over a time range, after confirmation', async () => {
    await page.click('nav >> text=Replay');
    await page.fill('input[name=connection]', 'conn_console');
    await page.fill('input[name=since]', '2020-01-01T00:00:00Z');
    await page.click('[data-test=replay]');
    await page.waitForSelector('[role=alertdialog]');
    await page.click('[data-test=confirm]');
    expect(await (await page.waitForSelector('[role=status]')).innerText()).toBe('Replayed 1 event(s).');
    await shot('replay');
  });

  it('shows the connection board and the alarms and queues', async () => {
    // Poll now: the simulator's connections appear with their poll and sync status.
    expect((await fetch(stack.info.pollUrl, { method: 'POST' })).ok).toBe(true);
    await page.click('nav >> text=Connections');
    await page.waitForSelector('[data-test=connections] tr:has-text("conn_sim_0")', { timeout: 60_000 });
    const board = await page.innerText('[data-test=connections]');
    expect(board).toMatch(/conn_console/);
    expect(board).toMatch(/closed/); // breaker
    await shot('connections');

    await page.click('nav >> text=Alarms and queues');
    await page.waitForSelector('[data-test=queue-depth]');
    expect(await page.innerText('[data-test=dlq-depth]')).toBe('0');
    await page.waitForSelector('[data-test=alarms], [data-test=no-alarms]');
    await shot('health');
  });

  it('every view ran under the strict CSP without a violation, and the CSP refuses an inline script', async () => {
    expect(cspViolations).toEqual([]);
    // The control: what an injected <script> would be. Refused, and reported as a violation.
    await page.addScriptTag({ content: 'globalThis.__inline = 1' }).catch(() => undefined);
    expect(await page.evaluate(() => (globalThis as unknown as { __inline?: number }).__inline)).toBeUndefined();
    await waitFor(() => cspViolations.length > 0, 10_000, () => 'the violation to be reported');
  });

  it('--read-only hides every mutating action, and the server refuses them', async () => {
    const readOnly = await startConsoleProcess(['--local-dir', stack.dir, '--read-only']);
    try {
      const p = await browser.newPage();
      await p.goto(readOnly.url);
      await p.waitForSelector('header >> text=read-only');
      expect(await p.locator('nav >> text=Send a test webhook').count()).toBe(0);
      expect(await p.locator('nav >> text=Replay').count()).toBe(0);
      await p.click('nav >> text=Dead-letter queue');
      await p.waitForSelector('[data-test=dlq], [data-test=dlq-empty], main [role=alert]');
      expect(await p.locator('main [role=alert]').count()).toBe(0);
      expect(await p.locator('[data-test=redrive-all], [data-test=redrive-one], [data-test=redrive-selected]').count()).toBe(0);
      // Posted from the page itself (its cookie, its origin): still refused.
      const status = await p.evaluate(async () => (await fetch('/api/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
      expect(status).toBe(403);
      await p.close();
    } finally {
      await readOnly.stop();
    }
  });
});

describe('makini-webhooks console: usage errors are one line and exit 2', () => {
  it.each([
    [['--port', '70000'], /--port must be a whole number from 0 to 65535/],
    [['--local-dir', '/nonexistent-console-dir'], /no local stack in \/nonexistent-console-dir\//],
    [['--stack', 'S', '--local-dir', 'D'], /give --stack or --local-dir, not both/],
    [['extra'], /unexpected arguments: extra/],
  ])('console %j', async (args, message) => {
    const { code, stdout, stderr } = await cli(['console', ...args]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
