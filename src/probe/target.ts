import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { CertpinError } from '../errors.js';

/**
 * A TARGET as {@link parseTarget} reads it (docs/cli.md): a file, or a server with its port.
 *
 * @example
 * ```js
 * const target = parseTarget(process.argv[2])
 * console.log(target.kind === 'file' ? `reading ${target.path}` : `connecting to ${target.host} port ${target.port}`)
 * ```
 */
export type ParsedTarget = { kind: 'file'; path: string } | { kind: 'server'; host: string; port: number; /** false when 443 was assumed */ portGiven: boolean };

const FILE_EXTENSIONS = /\.(pem|crt|cer|der|key|pub|csr|req|p7b|p7c|chain|bundle|txt)$/i;
const HOSTNAME = /^[\p{L}\p{N}_-]+(\.[\p{L}\p{N}_-]+)*\.?$/u;

function invalidTarget(text: string, why: string): CertpinError {
  return new CertpinError('ERR_CERTPIN_INVALID_INPUT', `not a target: ${JSON.stringify(text)}: ${why}`);
}

function parsePort(text: string, target: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw invalidTarget(target, `the port must be a number 1-65535, got ${JSON.stringify(text)}`);
  return Number(text);
}

function checkHost(host: string, target: string): string {
  if (isIP(host)) return host;
  if (!HOSTNAME.test(host)) throw invalidTarget(target, `${JSON.stringify(host)} is not a host name or IP address`);
  return host;
}

/**
 * Reads a TARGET, as {@link inspect}, {@link checkExpiry}, {@link verifyPins} and the CLI take them:
 * an existing file, `host`, `host:port`, `[v6]:port`, a bare IPv6 address or an `https://` URL (port
 * 443 by default). Something that looks like a path (a slash, a certificate file extension) is a file
 * even when it does not exist, so a typo never becomes a DNS lookup. Nothing is read or resolved: the
 * file system is only asked whether the path exists.
 *
 * @param text - The target; surrounding white space is ignored.
 * @returns A file (its path) or a server (host, port, and whether the port was given).
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_INPUT` quoting the target and saying what is wrong:
 *   empty, a URL other than `https://`, a port outside 1-65535, a host that is no host name or IP address.
 * @example
 * ```js
 * import { parseTarget } from 'certpin'
 * parseTarget('https://[::1]:8443/health') // { kind: 'server', host: '::1', port: 8443, portGiven: true }
 * parseTarget('api.example.com')           // { kind: 'server', host: 'api.example.com', port: 443, portGiven: false }
 * parseTarget('chain.pem')                 // { kind: 'file', path: 'chain.pem' }
 * ```
 */
export function parseTarget(text: string): ParsedTarget {
  if (typeof text !== 'string' || text.trim() === '') throw invalidTarget(String(text), 'empty');
  const target = text.trim();
  let isFile = false;
  try {
    isFile = statSync(target, { throwIfNoEntry: false }) !== undefined;
  } catch {
    isFile = true; // exists but cannot be examined: reading it will say why
  }
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(target);
  if (isFile || (!isUrl && (/[/\\]/.test(target) || FILE_EXTENSIONS.test(target)))) return { kind: 'file', path: target };
  if (isUrl) {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw invalidTarget(target, 'not a valid URL');
    }
    if (url.protocol !== 'https:') throw invalidTarget(target, `only https:// URLs can be probed, not ${url.protocol}//`);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { kind: 'server', host, port: url.port === '' ? 443 : Number(url.port), portGiven: url.port !== '' };
  }
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(target);
  if (bracketed) {
    if (isIP(bracketed[1]!) !== 6) throw invalidTarget(target, `${JSON.stringify(bracketed[1])} is not an IPv6 address`);
    return { kind: 'server', host: bracketed[1]!, port: bracketed[2] === undefined ? 443 : parsePort(bracketed[2], target), portGiven: bracketed[2] !== undefined };
  }
  if (isIP(target) === 6) return { kind: 'server', host: target, port: 443, portGiven: false };
  const colon = target.lastIndexOf(':');
  if (colon === -1) return { kind: 'server', host: checkHost(target, target), port: 443, portGiven: false };
  return { kind: 'server', host: checkHost(target.slice(0, colon), target), port: parsePort(target.slice(colon + 1), target), portGiven: true };
}

/**
 * One curl-style `--resolve HOST:PORT:ADDR[,ADDR]…` entry, as {@link parseResolve} reads it.
 *
 * @example
 * ```js
 * parseResolve('*:443:[::1],127.0.0.1') // { host: '*', port: 443, address: '::1', addresses: ['::1', '127.0.0.1'] }
 * ```
 */
export interface ResolveEntry {
  /** The host, lowercased, without a trailing dot (an IPv6 host in canonical form); `*` for any host on `port`. */
  host: string;
  port: number;
  /** The first of `addresses`. */
  address: string;
  /** The addresses to connect to, in the order they are tried (IPv6 without brackets). */
  addresses: string[];
}

/** The form a host has for matching `--resolve` entries: lowercase, one trailing dot dropped, IPv6 canonical. */
function resolveKey(host: string): string {
  const lower = host.toLowerCase().replace(/\.$/, '');
  if (isIP(lower) !== 6 || lower.includes('%')) return lower;
  return new URL(`https://[${lower}]/`).hostname.slice(1, -1);
}

/**
 * Parses a curl-style `--resolve` entry, as the `resolve` option of {@link inspect},
 * {@link checkExpiry}, {@link verifyPins} and the others takes them: `HOST:PORT:ADDR[,ADDR]…`. HOST is
 * a host name, an IPv4 address, an IPv6 address in brackets, or `*` for every host on PORT (curl
 * 7.64.0+); each ADDR an IPv4 or IPv6 address, brackets optional. curl's `+HOST:…` (an entry that
 * expires after a minute) and `-HOST:PORT` (remove an entry) forms are refused rather than read as
 * something else. Useful to refuse a bad entry before any connection is made.
 *
 * @param text - One entry, e.g. `api.example.com:443:10.0.0.5` or `*:443:[::1],127.0.0.1`.
 * @returns The host (`*` for any), port and addresses, in the order they are tried.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_INPUT` quoting the entry and saying what is wrong.
 * @example
 * ```js
 * import { parseResolve } from 'certpin'
 * for (const entry of resolveEntries) parseResolve(entry) // throws before any probe starts
 * parseResolve('API.example.com.:443:10.0.0.5') // { host: 'api.example.com', port: 443, address: '10.0.0.5', addresses: ['10.0.0.5'] }
 * ```
 */
export function parseResolve(text: string): ResolveEntry {
  const entry = String(text).trim();
  const fail = (why: string) => new CertpinError('ERR_CERTPIN_INVALID_INPUT', `bad --resolve ${JSON.stringify(text)}: ${why}; expected HOST:PORT:ADDR[,ADDR]..., e.g. api.example.com:443:127.0.0.1 (HOST may be *)`);
  if (entry.startsWith('+')) throw fail("curl's +HOST form (an entry that expires after a minute) is not supported: certpin keeps an entry for the whole run, so drop the +");
  if (entry.startsWith('-')) throw fail("curl's -HOST:PORT form (remove an entry) is not supported: certpin has no DNS cache to remove it from, so leave the entry out");
  // HOST ends at the first colon, as in curl, so an IPv6 host needs its brackets.
  const v6Host = [...entry.matchAll(/:(?=\d+:)/g)].some((colon) => isIP(entry.slice(0, colon.index)) === 6);
  const v6Hint = v6Host ? ' (an IPv6 host goes in brackets: [::1]:443:ADDR)' : '';
  const match = /^(\[[^\]]*\]|[^:[\]]+):([^:]*):(.*)$/.exec(entry);
  if (!match) throw fail(`not HOST:PORT:ADDR${v6Hint}`);
  let host = match[1]!;
  if (host.startsWith('[')) {
    if (isIP(host.slice(1, -1)) !== 6) throw fail(`${JSON.stringify(host)} is not an IPv6 address in brackets`);
    host = host.slice(1, -1);
  } else if (host.includes('*') && host !== '*') {
    throw fail(`${JSON.stringify(host)}: only * on its own stands for any host (no patterns such as *.example.com)`);
  } else if (host !== '*' && isIP(host) !== 4 && !HOSTNAME.test(host)) {
    throw fail(`${JSON.stringify(host)} is not a host name or IP address`);
  }
  if (!/^\d{1,5}$/.test(match[2]!) || Number(match[2]) < 1 || Number(match[2]) > 65535) throw fail(`the port must be 1-65535, got ${JSON.stringify(match[2])}${v6Hint}`);
  const addresses = match[3]!.split(',').map((part) => {
    let address = part.trim();
    if (address === '') throw fail('an empty address in the list');
    if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
    if (!isIP(address)) throw fail(`${JSON.stringify(part.trim())} is not an IP address`);
    return address;
  });
  return { host: host === '*' ? '*' : resolveKey(host), port: Number(match[2]), address: addresses[0]!, addresses };
}

/** Where to connect and what name to check: the result of applying `resolve` and `servername` to a server target. */
export interface Endpoint {
  /** The host as the target names it. */
  host: string;
  port: number;
  /** The first of `addresses`. */
  address: string;
  /** What the socket connects to, tried in this order: the `resolve` addresses, else `[host]`. */
  addresses: readonly string[];
  /** SNI; undefined for IP hosts (RFC 6066 forbids IP literals in SNI). */
  servername: string | undefined;
  /** The name the certificate must be valid for. */
  identity: string;
}

/**
 * Applies `resolve` and `servername` to a server target, as curl applies --resolve: an entry for the
 * host and port wins over a `*` entry for the port whatever their order, and a later entry for the
 * same HOST:PORT replaces an earlier one (curl: "old addresses discarded"). `*` also covers IP hosts,
 * as in curl: the connection goes to the entry's addresses, the certificate is still checked against
 * the IP the target names. Hosts match case-insensitively, ignoring one trailing dot.
 */
export function endpointOf(target: { host: string; port: number }, options: { resolve?: readonly string[]; servername?: string } = {}): Endpoint {
  const host = target.host;
  const key = resolveKey(host);
  let exact: ResolveEntry | undefined;
  let wildcard: ResolveEntry | undefined;
  for (const entry of (options.resolve ?? []).map(parseResolve)) {
    if (entry.port !== target.port) continue;
    if (entry.host === key) exact = entry;
    else if (entry.host === '*') wildcard = entry;
  }
  const addresses = (exact ?? wildcard)?.addresses ?? [host];
  const servername = options.servername ?? (isIP(host) ? undefined : host);
  return { host, port: target.port, address: addresses[0]!, addresses, servername, identity: options.servername ?? host };
}
