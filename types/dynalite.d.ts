// dynalite ships no type declarations; this covers what the project uses.
declare module 'dynalite' {
  import type { Server } from 'node:http';
  interface DynaliteOptions {
    /** Directory for a persistent LevelDB store; in memory when absent. */
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
  }
  function dynalite(options?: DynaliteOptions): Server;
  export = dynalite;
}

// dynalite's DynamoDB sizing rules, used by `npm run bench` to turn stored items into capacity units.
declare module 'dynalite/db' {
  import type { AttributeValue } from '@aws-sdk/client-dynamodb';
  /** Capacity units of one request on `item` (write: 1 KB units; read: 4 KB units, halved when eventually consistent). */
  /** An item's size in bytes by DynamoDB's rules (attribute names plus values). */
  export function itemSize(item: Record<string, AttributeValue>): number;
  export function capacityUnits(item: Record<string, AttributeValue> | undefined, isRead: boolean, isConsistent?: boolean): number;
}
