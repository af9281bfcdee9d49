/**
 * Jest as Stryker runs it (`npm run mutation`): the project's config, narrowed to the tests that
 * exercise the mutated files (lambdas/core/ and the DynamoDB event store), so each mutant's run is
 * short. A new test of those files must be listed here, or Stryker will not see it kill anything.
 */
const base = require('../jest.config.js');

const TESTS = [
  'unit/body-store',
  'unit/coalesce',
  'unit/connection-secret',
  'unit/connection-state',
  'unit/connection-state.oracle',
  'unit/constant-time',
  'unit/consume',
  'unit/content-dedup',
  'unit/envelope',
  'unit/errors',
  'unit/event',
  'unit/event-time',
  'unit/json-body',
  'unit/poll',
  'unit/poll-shards',
  'unit/receiver-handler',
  'unit/signature',
  'unit/signing-secrets',
  'unit/source-allowlist',
  'unit/webhook-id',
  'unit/within',
  'integration/bus-size',
  'integration/consumer',
  'integration/consumer-properties',
  'integration/consumer-store-faults',
  'integration/event-store',
  'integration/event-store-edges',
  'integration/event-store-body-apart',
  'integration/event-store-generations',
  'integration/large-bodies',
  'hardening/failure-paths',
  'hardening/review-content-dedup',
  'hardening/review-event',
  'hardening/review-poll-request',
  'hardening/review-receiver',
];

module.exports = {
  ...base,
  rootDir: '..',
  testMatch: TESTS.map((t) => `<rootDir>/test/${t}.test.ts`),
};
