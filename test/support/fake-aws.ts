/**
 * A loopback HTTP server answering the AWS JSON-protocol calls the Lambdas make (SQS SendMessage,
 * Secrets Manager GetSecretValue, EventBridge PutEvents), with scriptable faults. The real SDK talks to
 * it through AWS_ENDPOINT_URL_*, so client timeouts, retries and checksums are exercised for real.
 *
 * Kept only where the local endpoints (local/aws/) lack what a test needs: a call that hangs
 * (receiver-aws: the client's timeout), and a PutEvents entry refused on its own while the others
 * are accepted (consumer.test.ts). Everything else runs on the local endpoints.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../../local/loopback-server';

export type Fault = 'server-error' | 'hang' | 'not-found';

export interface FakeAws {
  readonly url: string;
  /** Message bodies SQS accepted, in order. */
  readonly messages: string[];
  /** Calls per X-Amz-Target, faulted or not. */
  readonly calls: Record<string, number>;
  /** The value GetSecretValue returns. */
  secretString: string;
  /** Faults applied to the next calls of a target, in order; an empty queue means success. */
  faults: Record<string, Fault[]>;
  /** A fault applied to every call of a target, after `faults` is exhausted. */
  alwaysFail: Record<string, Fault | undefined>;
  /** PutEvents entries the bus accepted, in order. */
  readonly busEvents: { Source: string; DetailType: string; Detail: string; EventBusName: string }[];
  /** PutEvents: entries for which this returns true are answered with a per-entry error. */
  rejectEntry: (entry: { DetailType: string; Detail: string }) => boolean;
  close(): Promise<void>;
}

export const SQS_SEND = 'AmazonSQS.SendMessage';
export const SM_GET = 'secretsmanager.GetSecretValue';
export const EB_PUT = 'AWSEvents.PutEvents';

export async function startFakeAws(secretString = 'test-signing-secret'): Promise<FakeAws> {
  const state = {
    messages: [] as string[],
    calls: {} as Record<string, number>,
    secretString,
    faults: {} as Record<string, Fault[]>,
    alwaysFail: {} as Record<string, Fault | undefined>,
    busEvents: [] as FakeAws['busEvents'],
    rejectEntry: (() => false) as FakeAws['rejectEntry'],
  };

  const server: Server = createServer((req, res) => {
    void readBody(req).then((raw) => respond(req, res, raw));
  });

  function respond(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const target = String(req.headers['x-amz-target'] ?? '');
    state.calls[target] = (state.calls[target] ?? 0) + 1;
    const fault = state.faults[target]?.shift() ?? state.alwaysFail[target];
    const protocol = target.startsWith('AmazonSQS') ? '1.0' : '1.1'; // SQS speaks JSON 1.0; Secrets Manager and EventBridge 1.1
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': `application/x-amz-json-${protocol}`, 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify(body));
    };
    if (fault === 'hang') return; // never answers; the client's timeout must end it
    if (fault === 'server-error') return send(500, { __type: 'InternalFailure', message: 'injected failure' });
    if (fault === 'not-found') return send(400, { __type: 'ResourceNotFoundException', message: 'injected: no such resource' });

    if (target === EB_PUT) {
      const { Entries } = JSON.parse(raw) as { Entries: FakeAws['busEvents'] };
      const results = Entries.map((entry) => {
        if (state.rejectEntry(entry)) return { ErrorCode: 'InternalFailure', ErrorMessage: 'injected entry failure' };
        state.busEvents.push(entry);
        return { EventId: randomUUID() };
      });
      return send(200, { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results });
    }
    const input = JSON.parse(raw || '{}') as Record<string, string>;
    if (target === SQS_SEND) {
      state.messages.push(input.MessageBody);
      return send(200, { MessageId: randomUUID(), MD5OfMessageBody: createHash('md5').update(input.MessageBody, 'utf8').digest('hex') });
    }
    if (target === SM_GET) {
      return send(200, { ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${input.SecretId}-AbCdEf`, Name: input.SecretId, SecretString: state.secretString, VersionId: randomUUID() });
    }
    send(400, { __type: 'UnknownOperationException', message: `fake-aws does not implement ${target}` });
  }

  const { url, close } = await listenOnLoopback(server);
  return Object.assign(state, { url, close });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
