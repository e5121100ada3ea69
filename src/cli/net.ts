/**
 * The network options every command that connects accepts (docs/cli.md): `--ca FILE`, `--resolve
 * HOST:PORT:ADDR[,ADDR]…` (repeatable, curl's syntax and matching: the `resolve` option of inspect()), `--servername
 * NAME`, `--timeout MS`, and TARGET parsing. Spread
 * {@link NETWORK_OPTIONS} into a command's `options` and call {@link networkOptions} on its values.
 */
import { fstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectOptions } from '../probe/inspect.js';
import { CertpinError } from '../errors.js';
import { readCertificates } from '../lib/pem.js';
import { parseResolve, parseTarget } from '../probe/target.js';
import { UsageError } from './command.js';

export { parseTarget };

export const NETWORK_OPTIONS = {
  ca: { type: 'string' },
  resolve: { type: 'string', multiple: true },
  servername: { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** Help text for the options above, to paste into a command's usage. */
export const NETWORK_USAGE = `Network options:
  --ca FILE                  trust only the roots in FILE (PEM or DER), like curl --cacert
                             (--cacert is accepted as the same option)
  --resolve HOST:PORT:ADDR[,ADDR]...
                             connect to ADDR for HOST:PORT (repeatable), like curl --resolve:
                             HOST * is any host on PORT (a named host wins over *); several
                             addresses are tried in order until one connects; IPv6 as [::1]
  --servername NAME          send NAME as SNI and check the certificate against it
  --timeout MS               give up on a server after MS milliseconds (default 10000)`;

export const DEFAULT_TIMEOUT = 10_000;
/** The longest delay Node's timers keep: 2^31-1 ms. */
export const MAX_TIMEOUT = 2 ** 31 - 1;

export interface NetworkValues {
  ca?: string | undefined;
  resolve?: string[] | undefined;
  servername?: string | undefined;
  timeout?: string | undefined;
}

/** Network settings for the library, from parsed option values; the `--ca` file is read and checked here. */
export function networkOptions(values: NetworkValues): InspectOptions & { timeout: number } {
  const options: InspectOptions & { timeout: number } = { timeout: DEFAULT_TIMEOUT };
  if (values.timeout !== undefined) {
    if (!/^\d+$/.test(values.timeout) || Number(values.timeout) <= 0) {
      throw new UsageError(`--timeout takes a positive number of milliseconds, got ${JSON.stringify(values.timeout)}`);
    }
    // setTimeout fires after 1 ms for anything above 2^31-1 ms (with a TimeoutOverflowWarning): a long
    // timeout would silently become the shortest one (docs/node-tls.md N18).
    if (Number(values.timeout) > MAX_TIMEOUT) {
      throw new UsageError(`--timeout must be at most ${MAX_TIMEOUT} ms (about 24.8 days), got ${values.timeout}`);
    }
    options.timeout = Number(values.timeout);
  }
  if (values.resolve !== undefined) {
    // Every entry is read now, so a malformed one is refused before any connection, not when (or
    // whether) a target happens to need it.
    for (const entry of values.resolve) parseResolve(entry);
    options.resolve = values.resolve;
  }
  if (values.servername !== undefined) {
    if (values.servername.trim() === '') throw new UsageError('--servername needs a name');
    options.servername = values.servername;
  }
  if (values.ca !== undefined) options.ca = readCaFile(values.ca);
  return options;
}

/** Reads a `--ca` bundle; an unreadable file or one without certificates is `ERR_CERTPIN_INVALID_INPUT`. */
export function readCaFile(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `cannot read --ca ${path}: ${why}`, { cause: error });
  }
  readCertificates(bytes, `--ca ${path}`);
  return bytes;
}

/** A server TARGET (`host`, `host:port`, `[v6]:port`, `https://` URL); a file is a usage error here. */
export function parseServerTarget(text: string): { host: string; port: number; portGiven: boolean } {
  const target = parseTarget(text);
  if (target.kind === 'file') throw new UsageError(`${JSON.stringify(text)} is a file; this command needs a server (host, host:port, [v6]:port or https:// URL)`);
  return target;
}

/** A server as the commands print it: `host:port`, an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** `-` as a TARGET: a file read from standard input (a certificate piped from openssl, say). */
export const STDIN_TARGET = '-';

/**
 * The path to read for a TARGET: `-` is standard input, read through /dev/stdin so that it goes
 * through the same file reader as any file. /dev/stdin cannot be opened when standard input is a
 * socket (what Node's child_process gives a child for a pipe), so then the input is copied to a file
 * in a private folder (0700, the file 0600), deleted when the process exits. At most one `-`:
 * standard input can be read once.
 */
export function targetPath(target: string, targets: readonly string[]): string {
  if (target !== STDIN_TARGET) return target;
  if (targets.filter((t) => t === STDIN_TARGET).length > 1) throw new UsageError('- (standard input) can be given once');
  if (process.platform === 'win32' || fstatSync(0).isSocket()) return stdinCopy();
  return '/dev/stdin';
}

let stdinCopyPath: string | undefined;

function stdinCopy(): string {
  if (stdinCopyPath !== undefined) return stdinCopyPath;
  const folder = mkdtempSync(join(tmpdir(), 'certpin-stdin-'));
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  stdinCopyPath = join(folder, 'stdin');
  writeFileSync(stdinCopyPath, readFileSync(0), { mode: 0o600 });
  return stdinCopyPath;
}
