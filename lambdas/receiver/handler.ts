/** Lambda entry point of the receiver. Built once per container, from the environment the stack sets. */
import { secretsManagerProvider } from '../adapters/secrets-manager-provider';
import { createReceiverHandlerFromEnv } from './receiver';

export const handler = createReceiverHandlerFromEnv(process.env, secretsManagerProvider);
