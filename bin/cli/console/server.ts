/**
 * The web console's HTTP server: 127.0.0.1 only, one random access token (checked on every
 * request, constant-time), a strict Content-Security-Policy, the page and its ES modules (preact,
 * preact/hooks and htm straight from node_modules: no build step, no network), and a small JSON
 * API over ./operations.ts.
 *
 * The token arrives once in the printed URL (`/?token=…`, as Jupyter does); the server answers with
 * an HttpOnly, SameSite=Strict cookie and redirects to `/`, so the token leaves the address bar.
 * API clients may send it as `Authorization: Bearer <token>` instead.
 *
 * Cookies ignore ports: every page served on 127.0.0.1, whatever its port, is same-site to the
 * console, is sent its cookie, and may set one of the same name. So the cookie's name holds a random
 * id of this console (no other page knows it, no other console answers to it), any of the values
 * sent under that name may match (a tossed copy cannot shadow the real one), and API calls (GET
 * too) must come from the console's own page: Sec-Fetch-Site, when the browser sends it, is
 * `same-origin`, and Origin, when sent, is the console's. Clients that are no browser (curl, a script
 * with the bearer token) send neither.
 *
 * Mutating requests (POST) must also carry JSON (so no HTML form can forge one) and are refused
 * outright with --read-only. Every Host header must name the console (127.0.0.1 or localhost on its
 * port): DNS rebinding.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { constantTime } from '../../../lambdas/core/constant-time';
import { UsageError } from '../shared';
import type { ConsoleOperations } from './operations';

export interface ConsoleServerOptions {
  readonly operations: ConsoleOperations;
  readonly readOnly: boolean;
  /** 0 picks a free port. */
  readonly port: number;
  /** One line per failed API call (never a body, a token or a secret). */
  readonly log?: (line: string) => void;
}

export interface ConsoleServer {
  /** The URL to open, token included: `http://127.0.0.1:PORT/?token=…`. */
  readonly url: string;
  readonly origin: string;
  readonly token: string;
  close(): Promise<void>;
}

/**
 * Where the page's files are. In the repository: the sources beside this file, and preact, its hooks
 * and htm from node_modules. In the npm package (this file bundled into dist/cli.cjs, with no
 * node_modules of ours): the copies scripts/package.ts puts in dist/console/.
 */
const PACKAGED = path.join(__dirname, 'console');
const packaged = existsSync(path.join(PACKAGED, 'app.js'));
const ASSETS = packaged ? PACKAGED : path.join(__dirname, 'assets');
/** Largest JSON request body the API reads. */
const MAX_BODY = 64 * 1024;

/** The ES modules the page imports, by the bare names it imports them by. */
const VENDOR: Record<string, { url: string; file: string }> = {
  preact: { url: '/vendor/preact.mjs', file: packaged ? path.join(PACKAGED, 'vendor', 'preact.mjs') : require.resolve('preact') },
  'preact/hooks': { url: '/vendor/preact-hooks.mjs', file: packaged ? path.join(PACKAGED, 'vendor', 'preact-hooks.mjs') : require.resolve('preact/hooks') },
  htm: { url: '/vendor/htm.mjs', file: packaged ? path.join(PACKAGED, 'vendor', 'htm.mjs') : path.join(path.dirname(require.resolve('htm')), 'htm.mjs') },
};

/** The console's files, by where the npm package keeps them (for scripts/package.ts). */
export function consoleFilesToPackage(): Record<string, string> {
  return {
    ...Object.fromEntries(['index.html', 'app.js', 'style.css'].map((f) => [f, path.join(ASSETS, f)])),
    ...Object.fromEntries(Object.values(VENDOR).map((v) => [path.join('vendor', path.basename(v.url)), v.file])),
  };
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const token = randomBytes(32).toString('base64url');
  const tokenBytes = Buffer.from(token);
  const log = options.log ?? (() => undefined);

  // The page: its one inline script is the import map, allowed by its hash and nothing else.
  const importMap = JSON.stringify({ imports: Object.fromEntries(Object.entries(VENDOR).map(([name, v]) => [name, v.url])) });
  const importMapHash = createHash('sha256').update(importMap).digest('base64');
  const page = readFileSync(path.join(ASSETS, 'index.html'), 'utf8').replace('<!--IMPORTMAP-->', `<script type="importmap">${importMap}</script>`);
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const files = new Map<string, { file: string; type: string }>([
    ['/assets/app.js', { file: path.join(ASSETS, 'app.js'), type: 'text/javascript; charset=utf-8' }],
    ['/assets/style.css', { file: path.join(ASSETS, 'style.css'), type: 'text/css; charset=utf-8' }],
    ...Object.values(VENDOR).map((v) => [v.url, { file: v.file, type: 'text/javascript; charset=utf-8' }] as const),
  ]);

  let port = 0;
  // Not derived from the token: the name travels to every service on 127.0.0.1 along with the cookie.
  const instance = randomBytes(8).toString('hex');
  const cookieName = () => `makini_console_${port}_${instance}`;
  const hosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const origins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  const tokenMatches = (candidate: string | undefined) => candidate !== undefined && constantTime.equal(Buffer.from(candidate), tokenBytes);

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`console: ${req.method} ${(req.url ?? '').split('?')[0]} failed: ${oneLine(error)}`);
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');

    if (!hosts().has(req.headers.host ?? '')) return send(res, 403, { error: 'foreign Host header' });
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const mutating = req.method !== 'GET' && req.method !== 'HEAD';
    // The API answers the console's own page only. The page and its files hold no data: they may
    // still be opened from the address bar (`none`) or a link in another local tool.
    if (mutating || url.pathname.startsWith('/api/')) {
      const origin = req.headers.origin;
      if (origin !== undefined && !origins().has(origin)) return send(res, 403, { error: 'foreign Origin header' });
      const fetchSite = req.headers['sec-fetch-site'];
      if (fetchSite !== undefined && fetchSite !== 'same-origin') return send(res, 403, { error: 'cross-site request' });
    }

    // The token: once in the query (then a cookie), or on every request as a bearer token.
    const queryToken = url.searchParams.get('token') ?? undefined;
    if (req.method === 'GET' && url.pathname === '/' && queryToken !== undefined) {
      if (!tokenMatches(queryToken)) return send(res, 401, { error: 'wrong token: open the URL the console printed' });
      res.setHeader('Set-Cookie', `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/`);
      res.writeHead(303, { Location: '/' });
      res.end();
      return;
    }
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!(bearer !== undefined ? tokenMatches(bearer) : cookies(req, cookieName()).some(tokenMatches))) return send(res, 401, { error: 'no valid token: open the URL the console printed (it ends in ?token=…)' });

    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
      return;
    }
    const asset = req.method === 'GET' ? files.get(url.pathname) : undefined;
    if (asset) {
      res.writeHead(200, { 'Content-Type': asset.type });
      res.end(readFileSync(asset.file));
      return;
    }
    if (!url.pathname.startsWith('/api/')) return send(res, 404, { error: 'not found' });

    if (mutating) {
      if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
      if (options.readOnly) return send(res, 403, { error: 'the console is read-only (--read-only)' });
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return send(res, 415, { error: 'send JSON (Content-Type: application/json)' });
    }
    try {
      const result = await api(req, url, mutating ? await readJson(req) : undefined);
      if (result === undefined) return send(res, 404, { error: 'not found' });
      send(res, 200, result);
    } catch (error) {
      if (error instanceof UsageError || error instanceof BadRequest) return send(res, 400, { error: oneLine(error) });
      log(`console: ${req.method} ${url.pathname} failed: ${oneLine(error)}`);
      send(res, 502, { error: oneLine(error) });
    }
  }

  async function api(req: IncomingMessage, url: URL, body: Record<string, unknown> | undefined): Promise<unknown> {
    const ops = options.operations;
    const q = (name: string) => url.searchParams.get(name) ?? undefined;
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /api/info':
        return { ...ops.info, readOnly: options.readOnly };
      case 'GET /api/events':
        return ops.events({ connection: q('connection') || undefined, type: q('type') || undefined, since: q('since') || undefined, until: q('until') || undefined });
      case 'GET /api/event': {
        const id = q('id');
        if (!id) throw new BadRequest('id is required');
        return ops.event(id); // undefined: 404
      }
      case 'GET /api/connections':
        return ops.connections();
      case 'GET /api/dlq':
        return ops.deadLetters();
      case 'GET /api/health':
        return ops.health();
      case 'POST /api/dlq/redrive': {
        if (body!.all === true) return ops.redrive({ all: true });
        const ids = body!.messageIds;
        if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) throw new BadRequest('messageIds must be a list of message ids, or all: true');
        return ops.redrive({ messageIds: ids as string[] });
      }
      case 'POST /api/replay':
        return ops.replay({ connection: text(body!, 'connection') ?? '', since: text(body!, 'since') ?? '', until: text(body!, 'until') });
      case 'POST /api/send':
        return ops.sendTest({ type: text(body!, 'type'), ids: text(body!, 'ids'), connection: text(body!, 'connection') });
      default:
        return undefined;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

class BadRequest extends Error {}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
}

/** Every value sent under `name`: a browser sends one per path and domain that set it, in no order to rely on. */
function cookies(req: IncomingMessage, name: string): string[] {
  return (req.headers.cookie ?? '').split(';').flatMap((part) => {
    const [key, ...value] = part.trim().split('=');
    return key === name ? [value.join('=')] : [];
  });
}

function text(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new BadRequest(`${key} must be a string`);
  return value;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new BadRequest('request body too large');
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new BadRequest('the request body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('the request body must be a JSON object');
  return value as Record<string, unknown>;
}

function oneLine(error: unknown): string {
  const message = (error as { message?: unknown })?.message;
  return (typeof message === 'string' && message !== '' ? message : String(error)).replace(/\s*\n\s*/g, ' ').trim();
}
