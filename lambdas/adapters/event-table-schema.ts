import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * Key and index attribute names of the event table (docs/dynamodb-design.md). Free of SDK code, so
 * the CDK construct can use it. The index projects keys only (see the design doc: index writes and cost).
 */
export const TABLE_KEYS = { partition: 'pk', sort: 'sk', ttl: 'expiresAt', byConnectionIndex: 'byConnection', indexPartition: 'gsi1pk', indexSort: 'gsi1sk' } as const;

/**
 * The event table's keys and index as a CreateTable request: what the local stack and tests create
 * in dynalite. The CDK construct declares the same keys from {@link TABLE_KEYS}.
 */
export function eventTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [TABLE_KEYS.partition, TABLE_KEYS.sort, TABLE_KEYS.indexPartition, TABLE_KEYS.indexSort].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: TABLE_KEYS.partition, KeyType: 'HASH' },
      { AttributeName: TABLE_KEYS.sort, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: TABLE_KEYS.byConnectionIndex,
        KeySchema: [
          { AttributeName: TABLE_KEYS.indexPartition, KeyType: 'HASH' },
          { AttributeName: TABLE_KEYS.indexSort, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
  };
}
