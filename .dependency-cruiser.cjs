/**
 * The project's dependency rules (DESIGN.md), checked by `test/infra/dependencies.test.ts`:
 * bin/ → lib/ and local/ → lambdas/, never back; lambdas/core is pure (no AWS, no Lambda tooling).
 * Type-only imports count: a type from lib/ in lambdas/ is still a dependency on lib/.
 */
module.exports = {
  forbidden: [
    {
      name: 'lambdas-import-no-infrastructure',
      comment: 'The runtime (lambdas/) must not depend on the CDK app (lib/), the local stack (local/) or the entry points (bin/).',
      severity: 'error',
      from: { path: '^lambdas/' },
      to: { path: '^(lib|local|bin)/' },
    },
    {
      name: 'core-is-pure',
      comment: 'lambdas/core holds the domain logic: no AWS SDK, Powertools, middy or CDK; adapters do the talking.',
      severity: 'error',
      from: { path: '^lambdas/core/' },
      // Resolved (node_modules/…) or not (the bare package name).
      to: { path: '((^|/)node_modules/|^)(@aws-sdk|@smithy|@aws-lambda-powertools|@middy|aws-cdk-lib|constructs)(/|$)' },
    },
    {
      name: 'lib-imports-no-local-or-bin',
      comment: 'The construct library (lib/) must not depend on the local stack or the entry points.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(local|bin)/' },
    },
    {
      name: 'no-agpl-in-shipped-code',
      comment:
        '@cloud-copilot/iam-simulate and its iam-* packages are AGPL-3.0-or-later: a devDependency for tests and benchmarks only. The shipped code (and npm start) must not load them; local/aws/iam-policy.ts says why.',
      severity: 'error',
      from: { path: '^(lambdas|lib|local|bin)/' },
      to: { path: '((^|/)node_modules/|^)@cloud-copilot/' },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles make the layering meaningless.',
      severity: 'error',
      from: { path: '^(lambdas|lib|local|bin)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(^|/)(cdk\\.out|coverage)/' },
  },
};
