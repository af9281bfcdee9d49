/** Lambda entry point of the consumer. Built once per container, from the environment the stack sets. */
import { createConsumerHandlerFromEnv } from './consumer';

export const handler = createConsumerHandlerFromEnv();
