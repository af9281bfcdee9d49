import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { AwsError } from '../../local/aws/json-endpoint';
import { startLocalLambdaApi, type LocalLambdaApi } from '../../local/aws/lambda';

const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:poller';
let api: LocalLambdaApi;
let client: LambdaClient;
let queued: unknown[];
let refuse: boolean;

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
      if (refuse) throw new AwsError('AccessDeniedException', `not authorized to perform: ${action} on resource: ${resource}`);
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
