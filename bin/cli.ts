/**
 * `makini-webhooks`: sign and send Makini webhooks, and operate a stack, from the command line.
 * The entry point (`tsx bin/cli.ts …`, the `makini-webhooks` launcher, and tests that import
 * `main`); the program is built in ./cli/index.ts, one file per command in ./cli/commands/.
 *
 * Exit codes: 0 success, 1 a failure, 2 usage error.
 */
import { run } from './cli/index';

export { main, run, version, type CliIo } from './cli/index';

if (require.main === module) run();
