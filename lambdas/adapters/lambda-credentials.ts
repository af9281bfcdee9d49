/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles only (an esbuild alias
 * set by the stack); tests and the local stack keep the SDK's full chain.
 *
 * Why: the full chain (SSO, STS, web identity, INI files, IMDS, login) brings about 90 KB of nested
 * clients into every bundle, over a third of the receiver's size, and none of it can run in Lambda,
 * where the runtime always hands the execution role's credentials to the function in
 * `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. Measured on the receiver:
 * 385 KB → 253 KB with ESM output (`npm run bench` prints the current figure).
 *
 * The SDK calls it as `defaultProvider(init)` and expects a credential provider back, which is
 * exactly `fromEnv`'s shape. Missing variables fail with the SDK's own CredentialsProviderError.
 */
export { fromEnv as defaultProvider } from '@aws-sdk/credential-provider-env';
