import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import type { SigningSecretsProvider } from './secrets-manager-signing-secrets';

/**
 * The receiver's signing secrets straight from Secrets Manager, through Powertools Parameters and
 * the SDK client. In a module of its own so that a bundle built with another provider (see
 * bench/variants) leaves the Secrets Manager client out.
 */
export const secretsManagerProvider = (clientConfig: SecretsManagerClientConfig): SigningSecretsProvider => new SecretsProvider({ clientConfig });
