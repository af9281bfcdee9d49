import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { createServer } from 'node:http';
import { invokeClientConfig, LambdaPollWorkers } from '../../lambdas/adapters/lambda-poll-workers';
import { AwsError } from '../../local/aws/json-endpoint';
import { listenOnLoopback } from '../../local/loopback-server';
import { startLocalLambdaApi, type LocalLambdaApi } from '../../local/aws/lambda';

const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:poller';
let api: LocalLambdaApi;
let client: LambdaClient;
let queued: unknown[];
let refuse: boolean | (() => boolean);

beforeEach(async () => {
  queued = [];
  refuse = false;
  api = await startLocalLambdaApi({
    functions: {
      arnOf: (name) => (name === 'poller' || name === ARN ? ARN : undefined),
      invoke: async (_arn, event) => {
        if ((event as { fail?: boolean }).fail) throw Object.assign(new Error('it broke'), { name: 'Boom' });
        return { echoed: event };
      },
      invokeAsync: (_arn, event) => void queued.push(event),
    },
    authorize: ({ action, resource }) => {
      if (typeof refuse === 'function' ? refuse() : refuse) throw new AwsError('AccessDeniedException', `not authorized to perform: ${action} on resource: ${resource}`);
    },
  });
  client = new LambdaClient({ endpoint: api.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
});
afterEach(async () => {
  client.destroy();
  await api.close();
});

const payload = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe("the local Lambda Invoke API, through the SDK's LambdaClient", () => {
  it('queues an Event invocation and answers 202 at once, by name or by ARN', async () => {
    expect((await client.send(new InvokeCommand({ FunctionName: 'poller', InvocationType: 'Event', Payload: payload({ n: 1 }) }))).StatusCode).toBe(202);
    expect((await client.send(new InvokeCommand({ FunctionName: ARN, InvocationType: 'Event', Payload: payload({ n: 2 }) }))).StatusCode).toBe(202);
    expect(queued).toEqual([{ n: 1 }, { n: 2 }]);
    expect(api.calls).toEqual({ Event: 2 });
  });

  it('answers a RequestResponse invocation with its result, or with the function error', async () => {
    const ok = await client.send(new InvokeCommand({ FunctionName: 'poller', Payload: payload({ n: 3 }) }));
    expect(ok.StatusCode).toBe(200);
    expect(ok.FunctionError).toBeUndefined();
    expect(JSON.parse(new TextDecoder().decode(ok.Payload))).toEqual({ echoed: { n: 3 } });
    const failed = await client.send(new InvokeCommand({ FunctionName: 'poller', Payload: payload({ fail: true }) }));
    expect(failed.FunctionError).toBe('Unhandled');
    expect(JSON.parse(new TextDecoder().decode(failed.Payload))).toEqual({ errorType: 'Boom', errorMessage: 'it broke' });
  });

  it('refuses an unknown function (ResourceNotFoundException) and a caller IAM refuses (AccessDeniedException), queuing nothing', async () => {
    await expect(client.send(new InvokeCommand({ FunctionName: 'nobody', InvocationType: 'Event' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    refuse = true;
    await expect(client.send(new InvokeCommand({ FunctionName: 'poller', InvocationType: 'Event' }))).rejects.toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    expect(queued).toEqual([]);
  });

  it('refuses a body that is not JSON', async () => {
    await expect(client.send(new InvokeCommand({ FunctionName: 'poller', InvocationType: 'Event', Payload: new TextEncoder().encode('{not json') }))).rejects.toMatchObject({ name: 'InvalidRequestContentException' });
    expect(queued).toEqual([]);
  });
});

describe('LambdaPollWorkers: how the poller starts its workers', () => {
  const event = { pollWorker: { runId: 'poll-1', notAfter: 1_764_000_000_000 } };
  it('queues each worker as an Event invocation of the function and says how many Lambda took', async () => {
    const workers = new LambdaPollWorkers(new LambdaClient({ ...invokeClientConfig(), endpoint: api.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), 'poller');
    expect(await workers.start(3, event)).toBe(3);
    expect(queued).toEqual([event, event, event]);
    let calls = 0;
    refuse = () => ++calls > 1; // Lambda takes the first, refuses the rest
    expect(await workers.start(3, event)).toBe(1);
    refuse = true;
    await expect(workers.start(2, event)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(queued).toHaveLength(4);
  });

  it('never sends an Invoke twice: one that timed out may have been queued, and a retry would start a worker more', async () => {
    const bodies: string[] = [];
    const slow = await listenOnLoopback(
      createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          bodies.push(body);
          setTimeout(() => res.writeHead(202).end(), 700); // queued, but answered after the client gave up
        });
      }),
    );
    const client = new LambdaClient({ ...invokeClientConfig(300), endpoint: slow.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      await expect(new LambdaPollWorkers(client, 'poller').start(1, event)).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 900));
      expect(bodies).toEqual([JSON.stringify(event)]);
    } finally {
      client.destroy();
      await slow.close();
    }
  });
});
