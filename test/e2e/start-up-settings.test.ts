/**
 * A bad setting or a corrupt state directory is one line and exit 2, no stack trace, and quotes
 * nothing from the state files (they hold secrets).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startExpectingExit } from '../support/local-stack-process';

jest.setTimeout(120_000);

const freshDir = () => mkdtempSync(path.join(tmpdir(), 'makini-review-start-'));

describe('npm start refuses bad input with exit 2', () => {
  // PORT=abc becomes Number('abc') = NaN (bin/local.ts); listen() throws ERR_SOCKET_BAD_PORT, which
  // main() reports with exit 1 and Node's message instead of a bad-setting line and exit 2.
  it('PORT that is not a port number: one line, exit 2', async () => {
    const result = await startExpectingExit({ MAKINI_LOCAL_DIR: freshDir(), PORT: 'abc' });
    expect(result.output.trim().split('\n')).toHaveLength(1);
    expect(result.code).toBe(2);
  });

  // A state file that parses but has the wrong shape is as corrupt as one that does not parse;
  // only SyntaxError becomes LocalStateError (local/stack.ts), so this one is exit 1.
  it('secrets.json that is JSON but not the list the local Secrets Manager writes: exit 2 naming --reset', async () => {
    const dir = freshDir();
    writeFileSync(path.join(dir, 'secrets.json'), '{}');
    const result = await startExpectingExit({ MAKINI_LOCAL_DIR: dir });
    expect(result.code).toBe(2);
    expect(result.output).toMatch(/--reset/);
  });

  // "Secrets/tokens never in logs, errors": a secrets.json damaged next to a stored secret is
  // reported with V8's JSON.parse message, which quotes the text around the error
  // (LocalStateError keeps the cause's first line): part of the secret is printed.
  it('a damaged secrets.json: the error line quotes no part of a stored secret', async () => {
    const dir = freshDir();
    const secret = 'whsec_Q2hlY2tUaGlzU2VjcmV0WlpaOTg3';
    writeFileSync(path.join(dir, 'secrets.json'), `[{"name":"MakiniWebhooks-SigningSecret","value":"${secret}"},]`);
    const result = await startExpectingExit({ MAKINI_LOCAL_DIR: dir });
    expect(result.code).toBe(2);
    expect(result.output).not.toContain(secret.slice(-6));
  });
});
