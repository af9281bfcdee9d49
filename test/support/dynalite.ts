/** dynalite (a DynamoDB emulator) on a loopback port, in memory, with the event table created. */
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { eventTableDefinition } from '../../lambdas/adapters/event-table-schema';

export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  close(): Promise<void>;
}

export async function startDynalite(tableName = 'makini-events'): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  await client.send(new CreateTableCommand(eventTableDefinition(tableName)));
  return {
    endpoint,
    client,
    doc: DynamoDBDocumentClient.from(client),
    tableName,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A document client over `doc` that asks for the consumed capacity of each `PutItem` writing an item
 * of `entity`, and records it in `units`: what DynamoDB would bill each of those writes.
 */
export function putCapacityRecorder(doc: DynamoDBDocumentClient, entity: string): { client: DynamoDBDocumentClient; units: number[] } {
  const units: number[] = [];
  const client = {
    send: async (command: object) => {
      if (command instanceof PutCommand && command.input.Item?.entity === entity) {
        command.input.ReturnConsumedCapacity = 'TOTAL';
        const out = await doc.send(command);
        units.push(out.ConsumedCapacity?.CapacityUnits ?? Number.NaN);
        return out;
      }
      return doc.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, units };
}
