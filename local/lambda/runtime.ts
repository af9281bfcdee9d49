/**
 * Lambda, locally: each function runs its code (the synthesized bundle, or its TypeScript source
 * with `--from-source`) in worker threads that stand for execution environments. As on Lambda:
 * - the environment holds exactly the function's variables (the template's, plus the local
 *   overrides) and nothing of this process's;
 * - an environment runs one invocation at a time; more concurrent invocations start more
 *   environments, up to the function's concurrency;
 * - the code is loaded once per environment (init); an init failure fails the invocation and the
 *   next one tries a fresh environment;
 * - an invocation that outlives the timeout is killed with its environment
 *   ("Task timed out after N seconds"), and the memory size caps the heap.
 * What the code prints is handed to `onOutput` line by line (the function's log stream).
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';

const WORKER = path.join(__dirname, 'worker.mjs');

export interface LocalFunctionDefinition {
  /** The function's name (its physical name locally). */
  readonly name: string;
  /** The file exporting the handler. */
  readonly file: string;
  /** The handler's export name. */
  readonly exportName: string;
  /** TypeScript source (loaded through tsx) rather than a bundle. */
  readonly fromSource?: boolean;
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly memoryMB: number;
  /** Execution environments at most. @default 4 */
  readonly concurrency?: number;
  readonly region: string;
  readonly accountId: string;
  /** Each line the code prints, stdout and stderr. */
  readonly onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** After each invocation: what Lambda reports to CloudWatch (AWS/Lambda Invocations, Errors, Duration). */
  readonly onInvoked?: (outcome: { readonly error?: Error; readonly ms: number }) => void;
}

/** An invocation failed as Lambda reports it: `Runtime.*`, `Sandbox.Timedout`, or the handler's error. */
export class LambdaInvocationError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = errorType;
  }
}

interface Environment {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  busy: boolean;
  dead: boolean;
  pending?: { id: string; resolve: (value: unknown) => void; reject: (error: Error) => void };
}

export class LocalFunction {
  /** Invocations and their wall-clock milliseconds (what Lambda bills, before rounding). */
  readonly stats = { invocations: 0, ms: 0, errors: 0, coldStarts: 0 };
  private readonly environments: Environment[] = [];
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(readonly definition: LocalFunctionDefinition) {}

  get arn(): string {
    return `arn:aws:lambda:${this.definition.region}:${this.definition.accountId}:function:${this.definition.name}`;
  }

  /** Invokes the function with `event` and resolves with its result, or rejects with a LambdaInvocationError. */
  async invoke<R = unknown>(event: unknown): Promise<R> {
    if (this.closed) throw new LambdaInvocationError('Runtime.Closed', `${this.definition.name} is stopped`);
    const started = performance.now();
    const environment = await this.acquire();
    let failure: Error | undefined;
    try {
      await environment.ready;
      return (await this.run(environment, event)) as R;
    } catch (error) {
      this.stats.errors++;
      failure = error as Error;
      throw error;
    } finally {
      const ms = performance.now() - started;
      this.stats.invocations++;
      this.stats.ms += ms;
      this.definition.onInvoked?.({ ...(failure && { error: failure }), ms });
      environment.busy = false;
      if (environment.dead) this.environments.splice(this.environments.indexOf(environment), 1);
      this.waiting.shift()?.();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.environments.map((e) => e.worker.terminate()));
    this.environments.length = 0;
  }

  private async acquire(): Promise<Environment> {
    for (;;) {
      const idle = this.environments.find((e) => !e.busy && !e.dead);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.environments.length < (this.definition.concurrency ?? 4)) {
        const environment = this.start();
        environment.busy = true;
        this.environments.push(environment);
        return environment;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private start(): Environment {
    const d = this.definition;
    this.stats.coldStarts++;
    const worker = new Worker(WORKER, {
      workerData: { file: d.file, exportName: d.exportName, fromSource: d.fromSource === true },
      env: { ...d.environment },
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: d.memoryMB },
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: worker[stream] }).on('line', (line) => d.onOutput?.(line, stream));
    }
    let settle!: { resolve: () => void; reject: (e: Error) => void };
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    ready.catch(() => undefined);
    const environment: Environment = { worker, ready, busy: false, dead: false };
    const fail = (error: Error) => {
      environment.dead = true;
      settle.reject(error);
      environment.pending?.reject(error);
      environment.pending = undefined;
    };
    worker.on('message', (message: { type: string; id?: string; result?: unknown; error?: { name: string; message: string } }) => {
      if (message.type === 'ready') return settle.resolve();
      if (message.type === 'init-error') {
        void worker.terminate();
        return fail(new LambdaInvocationError(message.error!.name === 'Runtime.HandlerNotFound' ? 'Runtime.HandlerNotFound' : 'Runtime.InitError', `${d.name} failed to initialize: ${message.error!.message}`));
      }
      const pending = environment.pending;
      if (!pending || pending.id !== message.id) return;
      environment.pending = undefined;
      if (message.type === 'result') pending.resolve(message.result);
      else pending.reject(new LambdaInvocationError(message.error!.name, message.error!.message));
    });
    worker.on('error', (error) => fail(new LambdaInvocationError('Runtime.ExitError', `${d.name}: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!environment.dead) fail(new LambdaInvocationError('Runtime.ExitError', `${d.name}: the runtime exited with code ${code}`));
    });
    return environment;
  }

  private run(environment: Environment, event: unknown): Promise<unknown> {
    const d = this.definition;
    const id = randomBytes(8).toString('hex');
    const deadline = Date.now() + d.timeoutSeconds * 1000;
    const context = {
      functionName: d.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.arn,
      memoryLimitInMB: String(d.memoryMB),
      awsRequestId: `local-${id}`,
      logGroupName: `/aws/lambda/${d.name}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      deadline,
    };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        environment.dead = true;
        environment.pending = undefined;
        void environment.worker.terminate();
        reject(new LambdaInvocationError('Sandbox.Timedout', `Task timed out after ${d.timeoutSeconds.toFixed(2)} seconds`));
      }, d.timeoutSeconds * 1000);
      environment.pending = {
        id,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      environment.worker.postMessage({ id, event, context });
    });
  }
}
