/**
 * What the poller talks to, all real and on loopback: the local Secrets Manager, dynalite (the
 * event table) and the Makini API simulator. The store's clock is the simulator's, so token
 * lifetimes agree on both sides.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import type { Fault } from '../../local/aws/json-endpoint';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startMakiniApiSimulator, type MakiniApiSimulator, type MakiniApiSimulatorOptions } from '../../local/makini-api-simulator';
import { startDynalite, type LocalDynamo } from './dynalite';

export const TOKEN_PREFIX = 'makini/connections/';
export const CREDENTIALS_SECRET = 'makini/system-credentials';

export interface PollerBackends {
  readonly sm: LocalSecretsManager;
  readonly smClient: SecretsManagerClient;
  readonly dynamo: LocalDynamo;
  readonly makini: MakiniApiSimulator;
  readonly store: DynamoDbEventStore;
  /** Stores the simulator's client credentials (or a given secret) as system mode's secret. */
  systemCredentials(secret?: string): Promise<unknown>;
  close(): Promise<void>;
}

export async function startPollerBackends(options: { makini?: MakiniApiSimulatorOptions; clock?: () => number; smFault?: (operation: string) => Fault | undefined } = {}): Promise<PollerBackends> {
  const [sm, dynamo, makini] = await Promise.all([startLocalSecretsManager({ fault: options.smFault }), startDynalite(), startMakiniApiSimulator(options.makini)]);
  const smClient = new SecretsManagerClient({ endpoint: sm.url, maxAttempts: 1 });
  const clock = options.clock ?? (() => makini.now());
  const store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000, now: () => clock() });
  return {
    sm,
    smClient,
    dynamo,
    makini,
    store,
    systemCredentials: (secret = makini.clientSecret) => smClient.send(new CreateSecretCommand({ Name: CREDENTIALS_SECRET, SecretString: JSON.stringify({ client_id: makini.clientId, client_secret: secret }) })),
    close: async () => {
      smClient.destroy();
      await Promise.all([sm.close(), dynamo.close(), makini.close()]);
    },
  };
}
