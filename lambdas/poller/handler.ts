/** Lambda entry point of the poller. Built once per container, from the environment the stack sets. */
import { createPollerHandlerFromEnv } from './poller';

export const handler = createPollerHandlerFromEnv();
