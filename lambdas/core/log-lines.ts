/**
 * The message of the one line each Lambda execution environment writes at its first invocation
 * (`logColdStart` in adapters/powertools.ts); the dashboard's cold-start query matches it.
 */
export const COLD_START_MESSAGE = 'cold start';
