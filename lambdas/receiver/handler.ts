/** Lambda entry point of the receiver. Built once per container, from the environment the stack sets. */
import { createReceiverHandlerFromEnv } from './receiver';

export const handler = createReceiverHandlerFromEnv();
