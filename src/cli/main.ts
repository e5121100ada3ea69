import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GLOBAL_OPTIONS, UsageError, type Command, type CommandContext } from './command.js';
import { COMMANDS, findCommand, type CommandEntry } from './commands/index.js';
import { createOutput, type Output, type OutputStream } from './output.js';
import { nearest } from './suggest.js';

export interface MainIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function generalUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: certpin COMMAND [options]

Certificate pinning for Node.js: find pins, check them, watch expiry, export them.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'certpin help COMMAND' or 'certpin COMMAND --help' for a command's options.
Exit status: 0 ok, 1 check failed, 2 usage, input or connection error (expiry: Nagios codes).`;
}

/** An error as one line: messages that span lines (a wrapped cause, a listing) are joined. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split('\n')
    .map((part) => part.trim())
    .filter(Boolean)
    .join(' ') || (error instanceof Error ? error.name : 'unknown error');
}

function unknownCommand(name: string): UsageError {
  const near = nearest(name, COMMANDS.map((c) => c.name));
  return new UsageError(`unknown command ${JSON.stringify(name)}${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}; run 'certpin help' for the list`);
}

/**
 * curl's names for options certpin spells otherwise, so curl habits work: `--cacert` is `--ca`
 * (both replace the default roots).
 */
const OPTION_ALIASES: Readonly<Record<string, string>> = { cacert: 'ca' };

function applyAliases(args: readonly string[], command: Command): string[] {
  return args.map((arg) => {
    if (arg === '--') return arg;
    const match = /^--([^=]+)(=.*)?$/.exec(arg);
    const target = match ? OPTION_ALIASES[match[1]!] : undefined;
    return target !== undefined && Object.hasOwn(command.options, target) ? `--${target}${match![2] ?? ''}` : arg;
  });
}

/** parseArgs' own messages are long and mention JavaScript; say the same in the CLI's terms. */
function parseError(error: unknown, command: Command): UsageError {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const option = /'(-[^' ]*)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const known = Object.keys({ ...command.options, ...GLOBAL_OPTIONS }).filter((name) => name.length > 1);
      const near = option?.startsWith('--') ? nearest(option.slice(2).split('=')[0]!, known) : [];
      const hint = near.length > 0 ? ` (did you mean ${near.map((n) => `--${n}`).join(' or ')}?)` : '';
      return new UsageError(`${command.name}: unknown option ${option ?? message}${hint}`);
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`${command.name}: unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? message}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(`${command.name}: ${option ?? 'an option'} ${/argument missing/.test(message) ? 'needs a value' : message.replace(/^Option '[^']*' /, '')}`);
    default:
      return new UsageError(`${command.name}: ${message}`);
  }
}

async function runCommand(command: Command, args: string[], out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: applyAliases(args, command), options: { ...command.options, ...GLOBAL_OPTIONS }, allowPositionals: command.allowPositionals, strict: true });
  } catch (error) {
    throw parseError(error, command);
  }
  if (parsed.values.help === true) {
    out.line(command.usage);
    return 0;
  }
  const context = { values: parsed.values, positionals: parsed.positionals, json: parsed.values.json === true, out, env } as CommandContext;
  return command.run(context);
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and returns the exit code. Never throws:
 * every failure is one line on stderr.
 */
export async function main(argv: readonly string[], io: MainIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const out = createOutput(io);
  const [first, ...rest] = argv;
  let command: Command | undefined;
  try {
    if (first === undefined) {
      io.stderr.write(`${generalUsage()}\n`);
      return 2;
    }
    if (first === '--help' || first === '-h' || (first === 'help' && rest.length === 0)) {
      out.line(generalUsage());
      return 0;
    }
    if (first === '--version' || first === '-v') {
      out.line(version());
      return 0;
    }
    if (first === 'help') {
      const topic = findCommand(rest[0]!);
      if (!topic) throw unknownCommand(rest[0]!);
      if (rest.length > 1) throw new UsageError(`help takes one command name, got ${rest.length}`);
      out.line((await topic.load()).usage);
      return 0;
    }
    if (first.startsWith('-')) throw new UsageError(`expected a command before ${first}; run 'certpin help' for the list`);
    const entry: CommandEntry | undefined = findCommand(first);
    if (!entry) throw unknownCommand(first);
    command = await entry.load();
    return await runCommand(command, rest, out, io.env);
  } catch (error) {
    const hint = error instanceof UsageError && command ? ` (see 'certpin help ${command.name}')` : '';
    io.stderr.write(`certpin: ${oneLine(error)}${hint}\n`);
    // CERTPIN_DEBUG=1 adds the stack (and causes) for a bug report; users never see one otherwise.
    if (io.env.CERTPIN_DEBUG && error instanceof Error && !(error instanceof UsageError)) io.stderr.write(`${error.stack ?? ''}\n`);
    return command?.errorExitCode ?? 2;
  }
}
