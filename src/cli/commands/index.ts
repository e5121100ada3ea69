/**
 * The command registry of the `certpin` CLI.
 *
 * Adding a command takes one file and one line:
 *
 * 1. `src/cli/commands/NAME.ts` default-exports a descriptor made with `defineCommand` (../command.ts):
 *    ```ts
 *    import { defineCommand, UsageError } from '../command.js';
 *    import { NETWORK_OPTIONS, NETWORK_USAGE, networkOptions } from '../net.js';
 *
 *    export default defineCommand({
 *      name: 'hello',
 *      summary: 'one line for `certpin help`',
 *      usage: `Usage: certpin hello TARGET… [options]\n\n…\n${NETWORK_USAGE}`,
 *      options: { ...NETWORK_OPTIONS, loud: { type: 'boolean' } },   // util.parseArgs spec
 *      allowPositionals: true,
 *      // errorExitCode: 3,      // exit code of usage/input/connection errors; default 2
 *      async run({ values, positionals, json, out }) {   // values typed from `options`
 *        if (positionals.length === 0) throw new UsageError('give a TARGET');
 *        const net = networkOptions(values);               // --ca/--resolve/--servername/--timeout
 *        if (json) out.json({ results: [] }); else out.line('hello');
 *        return 0;                                          // the exit code
 *      },
 *    });
 *    ```
 * 2. Import it below and add it to {@link COMMANDS} (the order is the order of `certpin help`).
 *
 * What `main` does for every command, so commands need not:
 * - parses argv strictly with `util.parseArgs` (unknown options and, without `allowPositionals`,
 *   positionals are usage errors), adding `--help`/`-h` and `--json` to every command;
 * - `certpin NAME --help` and `certpin help NAME` both print `usage`, exit 0;
 * - an error thrown by `run` becomes ONE line on stderr, `certpin: <message>` (no stack trace), and
 *   the exit code `errorExitCode` (default 2); a {@link UsageError} also points to the help.
 *   Library errors (CertpinError, connection errors) can simply be left to propagate.
 * - `out` (../output.ts) is the only way to print: `line`, `lines`, `table`, `json`, `warn`,
 *   `note`, `style.*` colours (TTY only, never with NO_COLOR), `progress(total)`; `mapConcurrent`
 *   from the same file runs many targets with bounded concurrency.
 */
import type { Command } from '../command.js';
import pins from './pins.js';
import verify from './verify.js';
import collect from './collect.js';
import init from './init.js';
import rotate from './rotate.js';
import approve from './approve.js';
import reject from './reject.js';
import add from './add.js';
import expiry from './expiry.js';
import keygen from './keygen.js';
import lint from './lint.js';
import exportCommand from './export.js';
import metrics from './metrics.js';
import demo from './demo.js';

export const COMMANDS: readonly Command[] = [pins, verify, init, rotate, approve, reject, add, expiry, keygen, lint, exportCommand, metrics, collect, demo];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((command) => command.name === name);
}
