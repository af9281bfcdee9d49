/**
 * Bench-only experiment, never deployed: the receiver with its signing secret read through the AWS
 * Parameters and Secrets Lambda Extension (an HTTP server the extension layer runs on localhost)
 * instead of the Secrets Manager client. `npm run bench` bundles it with the production bundling
 * settings and compares its size and init time with the shipped receiver; the README's performance
 * section says which we kept and why.
 */
import { request } from 'node:http';
import { BaseProvider } from '@aws-lambda-powertools/parameters/base';
import { createReceiverHandlerFromEnv } from '../../lambdas/receiver/receiver';

/** Powertools' cache and `forceFetch` in front of the extension's `GET /secretsmanager/get`. */
class ParametersExtensionProvider extends BaseProvider {
  private readonly port = Number(process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? 2773);

  constructor() {
    super({});
  }

  protected _get(name: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: 'localhost', port: this.port, path: `/secretsmanager/get?secretId=${encodeURIComponent(name)}`, headers: { 'X-Aws-Parameters-Secrets-Token': process.env.AWS_SESSION_TOKEN ?? '' }, timeout: 1_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(text) as { SecretString: string }).SecretString) : reject(new Error(`the extension answered ${res.statusCode}`))));
        },
      );
      req.on('timeout', () => req.destroy(new Error('the extension did not answer in time')));
      req.on('error', reject);
      req.end();
    });
  }

  protected _getMultiple(): Promise<undefined> {
    return Promise.reject(new Error('not used'));
  }
}

export const handler = createReceiverHandlerFromEnv(process.env, () => new ParametersExtensionProvider());
