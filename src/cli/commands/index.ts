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
 * 2. Add a line to {@link COMMANDS} (the order is the order of `certpin help`): its name, the same
 *    summary, and `load: () => import('./NAME.js')`.
 *
 * Commands are loaded only when run: `certpin --version`, `certpin --help` and every cron line pay
 * for the one command they use, not for the whole library (docs/performance.md: `--version` within 1.3x of
 * `node -e 0`). So nothing here imports a command file statically.
 *
 * What `main` does for every command, so commands need not:
 * - parses argv strictly with `util.parseArgs` (unknown options and, without `allowPositionals`,
 *   positionals are usage errors), adding `--help`/`-h` and `--json` to every command;
 * - `certpin NAME --help` and `certpin help NAME` both print `usage`, exit 0;
 * - an error thrown by `run` becomes ONE line on stderr, `certpin: <message>` (no stack trace), and
 *   the exit code `errorExitCode` (default 2); a {@link UsageError} also points to the help.
 *   Library errors (CertpinError, connection errors) can simply be left to propagate.
 * - `out` (../output.ts) is the only way to print: `line`, `lines`, `table`, `json`, `warn`,
 *   `note`, `style.*` colours (TTY only, never with NO_COLOR), `progress(total)`; `runTargets`
 *   from the same file runs many targets with bounded concurrency, printing each result in order.
 */
import type { Command } from '../command.js';

/** A command as the registry knows it before loading it: enough for `certpin help`. */
export interface CommandEntry {
  readonly name: string;
  /** The command file's own `summary` (test/cli/startup.test.mjs checks that they agree). */
  readonly summary: string;
  load(): Promise<Command>;
}

const entry = (name: string, summary: string, load: () => Promise<{ default: Command }>): CommandEntry => ({
  name,
  summary,
  load: async () => (await load()).default,
});

export const COMMANDS: readonly CommandEntry[] = [
  entry('pins', 'show the certificates of a server or file with their pins', () => import('./pins.js')),
  entry('verify', 'check that servers present a pinned key in their verified chain', () => import('./verify.js')),
  entry('init', 'create or extend a pin file with the current pins of servers', () => import('./init.js')),
  entry('rotate', 'the rotation job: check each host, record new pins for review, expire unseen ones', () => import('./rotate.js')),
  entry('approve', 'trust a pin of the pin file (e.g. one rotate recorded as pending_review)', () => import('./approve.js')),
  entry('reject', 'mark a pin of the pin file as rejected', () => import('./reject.js')),
  entry('add', 'add an active or backup pin to a host of the pin file', () => import('./add.js')),
  entry('expiry', 'check when the certificates of servers or files expire (Nagios exit codes)', () => import('./expiry.js')),
  entry('keygen', 'generate a backup key (0600, never over an existing file) and print its pin', () => import('./keygen.js')),
  entry('lint', 'check a pin file for missing backups, bad pins, expiry mistakes and risky patterns', () => import('./lint.js')),
  entry('export', 'write the trusted pins for OkHttp, Android, TrustKit, curl or HPKP', () => import('./export.js')),
  entry('metrics', 'Prometheus metrics of the pinned hosts: probe success, pin match, chain expiry, pin counts', () => import('./metrics.js')),
  entry('collect', 'receive RFC 7469 and TrustKit pin violation reports, one line per violation', () => import('./collect.js')),
  entry('demo', 'an offline showcase: a local PKI, a pinned client, a corporate MITM and a DNS hijack refused', () => import('./demo.js')),
];

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((command) => command.name === name);
}
