import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Output } from './output.js';

/** The option spec of `util.parseArgs`, as a command declares it. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts; `main` adds them, a command must not redeclare them. */
export const GLOBAL_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

/** What `parseArgs` gives for a command's options plus the global ones: typed from the spec. */
export type ParsedValues<O extends OptionSpec> = ReturnType<
  typeof parseArgs<{ options: O & typeof GLOBAL_OPTIONS; allowPositionals: true; strict: true }>
>['values'];

/** Everything a command's `run` receives. */
export interface CommandContext<O extends OptionSpec = OptionSpec> {
  /** Parsed option values, typed from the command's `options`. */
  readonly values: ParsedValues<O>;
  readonly positionals: readonly string[];
  /** True with `--json`: print exactly one JSON document on stdout (`out.json(…)`), nothing else there. */
  readonly json: boolean;
  /** The one output formatter: stdout/stderr, colours, tables, progress. */
  readonly out: Output;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * A command of the `certpin` CLI. See src/cli/commands/index.ts for how to add one.
 */
export interface Command<O extends OptionSpec = OptionSpec> {
  /** The word after `certpin`. */
  readonly name: string;
  /** One line for the command list of `certpin help`. */
  readonly summary: string;
  /** The full help text, printed by `certpin help NAME` and `certpin NAME --help` alike. */
  readonly usage: string;
  /** `util.parseArgs` options (without `--help`/`--json`, which every command gets). Parsing is strict. */
  readonly options: O;
  readonly allowPositionals: boolean;
  /**
   * Exit code for usage errors and for any error `run` throws (bad input, unreachable host).
   * @default 2 (docs/cli.md); `expiry` uses 3, Nagios' UNKNOWN.
   */
  readonly errorExitCode?: number;
  /** Does the work and returns the exit code. Throw {@link UsageError} for a misused command line. */
  run(context: CommandContext<O>): Promise<number>;
}

/** Gives a command descriptor its option types; the descriptor itself is returned unchanged. */
export function defineCommand<const O extends OptionSpec>(command: Command<O>): Command<O> {
  return command;
}

/** A command line that cannot work: `main` prints it as one line, with a pointer to the command's help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Resolves on the first SIGINT or SIGTERM: how the long-running commands (`collect`, `metrics --listen`) stop. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
