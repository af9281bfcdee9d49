/**
 * Local SQS and Secrets Manager endpoints in their own process, for the warm-path row: the bench
 * process then spends CPU only on the receiver and its SDK clients, not on answering them.
 * Prints one JSON line ({ sqs, secretsManager, queueUrl }) and runs until its stdin closes.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalSecretsManager } from '../local/aws/secrets-manager';
import { startLocalSqs } from '../local/aws/sqs';

async function main(): Promise<void> {
  const [secretId, secret] = [process.argv[2], process.argv[3]];
  const sqs = await startLocalSqs({ queues: [{ name: 'bench', visibilityTimeoutSeconds: 30 }] });
  const secrets = await startLocalSecretsManager();
  const client = new SecretsManagerClient({ endpoint: secrets.url, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  await client.send(new CreateSecretCommand({ Name: secretId, SecretString: secret }));
  client.destroy();
  process.stdout.write(`${JSON.stringify({ sqs: sqs.url, secretsManager: secrets.url, queueUrl: sqs.queueUrl('bench') })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void Promise.all([sqs.close(), secrets.close()]).then(() => process.exit(0)));
}

void main();
