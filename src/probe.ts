import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, connect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { KeyObject } from 'node:crypto';
import type { CaInput } from './config.js';
import { candidatesFromLegacy, certInfo, proveChain, TrustStore, type CertInfo } from './chain.js';
import { CertpinError } from './errors.js';
import { readCryptoObjects, type CryptoObject } from './pem.js';
import { pinOfSpki } from './pin.js';

/**
 * The role of an entry of {@link InspectResult.chain}: a certificate's place in the chain, or a key or CSR file.
 *
 * @example
 * ```js
 * const { chain } = await inspect('backup.key')
 * console.log(chain[0].role) // 'key'
 * ```
 */
export type ChainRole = 'leaf' | 'intermediate' | 'root' | 'key' | 'csr';

/**
 * One certificate (or key, or CSR) as `certpin pins` shows it.
 *
 * @example
 * ```js
 * const issuer = (await inspect('api.example.com')).chain.find((c) => c.role === 'intermediate')
 * console.log(issuer?.pin, issuer?.subject, issuer?.daysLeft)
 * ```
 */
export interface ChainEntry {
  /** Where the object sits: `leaf`, `intermediate`, `root`, or `key`/`csr` for files. */
  role: ChainRole;
  /** The subject name (RFC 4514 order as Node prints it). */
  subject: string;
  /** The issuer's name; null for keys and CSRs. */
  issuer: string | null;
  /** Start of validity (ISO 8601); null for keys and CSRs. */
  notBefore: string | null;
  /** End of validity (ISO 8601); null for keys and CSRs. */
  notAfter: string | null;
  /** Whole days until notAfter, rounded down (negative once expired). */
  daysLeft: number | null;
  /** The SPKI pin, `sha256/…`. */
  pin: string;
  /** SHA-256 of the whole certificate (colon-separated hex), for matching with other tools; not a pin. */
  fingerprint256: string | null;
}

/**
 * What {@link inspect} found: the chain of a server or file, with pins.
 *
 * @example
 * ```js
 * import { inspect } from 'certpin'
 * const result = await inspect('api.example.com')
 * if (!result.trusted) console.error(result.error)
 * for (const c of result.chain) console.log(c.role, c.subject, c.pin)
 * ```
 */
export interface InspectResult {
  /** The target as given. */
  target: string;
  /** null for files. */
  host: string | null;
  /** The port connected to; null for files. */
  port: number | null;
  /** Whether the chain passed standard validation (trust store, hostname, dates) and was proven to an anchor. */
  trusted: boolean;
  /** Why not trusted, or why the target could not be read; null when all is well. */
  error: string | null;
  /** The verified chain, leaf first, when trusted; else the certificates as served. */
  chain: ChainEntry[];
  /** Served certificates that are not on the proven path (they never count for pinning). */
  unproven: ChainEntry[];
  /** The address connected to (after `resolve`: the one of its addresses that answered), or null for files. */
  address?: string | null;
  /** The file read, or null for servers. */
  file?: string | null;
}

/**
 * Network options of {@link inspect}, as the CLI's `--ca`, `--resolve`, `--servername` and `--timeout`.
 *
 * @example
 * ```js
 * await inspect('api.example.com:8443', { ca: readFileSync('corp-root.pem'), resolve: ['api.example.com:8443:10.0.0.5'], timeout: 5000 })
 * await inspect('api.example.com', { resolve: ['*:443:[2001:db8::5],10.0.0.5'] }) // the IPv6 address first, then the IPv4 one
 * ```
 */
export interface InspectOptions {
  /** Trust only these roots (PEM/DER), like curl's --cacert. */
  ca?: CaInput;
  /**
   * curl-style overrides of name resolution, `HOST:PORT:ADDR[,ADDR]…`: HOST `*` is any host on PORT
   * (an entry naming the host wins), the addresses are tried in order until one connects (never
   * after a certificate or pin failure), IPv6 with or without brackets. See `certpin help pins`.
   */
  resolve?: string[];
  /** The TLS server name (SNI) and the name the certificate must be valid for, when not the host's. */
  servername?: string;
  /** Milliseconds for the connection and handshake. @default 10000 */
  timeout?: number;
}

/** A parsed TARGET (docs/cli.md): a server or a file. */
export type Target = { kind: 'file'; path: string } | { kind: 'server'; host: string; port: number; /** false when 443 was assumed */ portGiven: boolean };

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
 * Reads a TARGET: an existing file, `host`, `host:port`, `[v6]:port`, a bare IPv6 address or an
 * `https://` URL (port 443 by default). Something that looks like a path (a slash, a certificate file
 * extension) is a file even when it does not exist, so a typo never becomes a DNS lookup.
 */
export function parseTarget(text: string): Target {
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
 * Parses a curl-style `--resolve` entry: `HOST:PORT:ADDR[,ADDR]…`. HOST is a host name, an IPv4
 * address, an IPv6 address in brackets, or `*` for every host on PORT (curl 7.64.0+); each ADDR an
 * IPv4 or IPv6 address, brackets optional. curl's `+HOST:…` (an entry that expires after a minute)
 * and `-HOST:PORT` (remove an entry) forms are refused rather than read as something else.
 * Throws `ERR_CERTPIN_INVALID_INPUT` quoting the entry and saying what is wrong.
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
export function endpointOf(target: { host: string; port: number }, options: Pick<InspectOptions, 'resolve' | 'servername'> = {}): Endpoint {
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

const DEFAULT_TIMEOUT = 10_000;

/**
 * OpenSSL's certificate verification results, as Node reports them in `authorizationError` (a bare
 * code there) and as error codes: the text is OpenSSL's own, so users can search for it.
 */
const VERIFY_ERRORS: Readonly<Record<string, string>> = {
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  UNABLE_TO_GET_CRL: 'unable to get certificate CRL',
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: "unable to decrypt certificate's signature",
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: "unable to decrypt CRL's signature",
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'unable to decode issuer public key',
  CERT_SIGNATURE_FAILURE: 'certificate signature failure',
  CRL_SIGNATURE_FAILURE: 'CRL signature failure',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CRL_NOT_YET_VALID: 'CRL is not yet valid',
  CRL_HAS_EXPIRED: 'CRL has expired',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: "format error in certificate's notBefore field",
  ERROR_IN_CERT_NOT_AFTER_FIELD: "format error in certificate's notAfter field",
  ERROR_IN_CRL_LAST_UPDATE_FIELD: "format error in CRL's lastUpdate field",
  ERROR_IN_CRL_NEXT_UPDATE_FIELD: "format error in CRL's nextUpdate field",
  OUT_OF_MEM: 'out of memory',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  CERT_CHAIN_TOO_LONG: 'certificate chain too long',
  CERT_REVOKED: 'certificate revoked',
  INVALID_CA: 'invalid CA certificate',
  PATH_LENGTH_EXCEEDED: 'path length constraint exceeded',
  INVALID_PURPOSE: 'unsupported certificate purpose',
  CERT_UNTRUSTED: 'certificate not trusted',
  CERT_REJECTED: 'certificate rejected',
  HOSTNAME_MISMATCH: 'hostname mismatch',
  EMAIL_MISMATCH: 'email address mismatch',
  IP_ADDRESS_MISMATCH: 'IP address mismatch',
  INVALID_CALL: 'invalid certificate verification context',
  STORE_LOOKUP: 'issuer certificate lookup error',
};

/**
 * True when a connection failed because the server's identity was not accepted (standard validation
 * or a pin), as opposed to the server being unreachable or not speaking TLS.
 */
export function isValidationError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof CertpinError) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code in VERIFY_ERRORS || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code.startsWith('ERR_CERTPIN_'));
}

function describeVerifyError(code: string): string {
  const text = VERIFY_ERRORS[code];
  return text ? `${text} (${code})` : code;
}

interface SystemError extends Error {
  code?: string;
}

function where(endpoint: Endpoint): string {
  const host = isIP(endpoint.host) === 6 ? `[${endpoint.host}]` : endpoint.host;
  const address = endpoint.address === endpoint.host ? '' : ` (${isIP(endpoint.address) === 6 ? `[${endpoint.address}]` : endpoint.address})`;
  return `${host}:${endpoint.port}${address}`;
}

/** OpenSSL's short reason ("wrong version number"), which Node puts in `reason`; its `message` is a long line of internals. */
function reasonOf(error: SystemError): string {
  const reason = (error as { reason?: unknown }).reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  return /SSL routines:[^:]*:([^:]+)/.exec(error.message)?.[1] ?? error.code ?? error.message;
}

/** A network or handshake failure as one sentence that says what happened and where. */
function connectionError(error: SystemError, endpoint: Endpoint): Error {
  if (isValidationError(error)) return error;
  const code = error.code ?? '';
  const at = where(endpoint);
  let message: string;
  switch (code) {
    case 'ENOTFOUND':
      message = `cannot resolve host ${JSON.stringify(endpoint.address)}: no such host (ENOTFOUND)`;
      break;
    case 'EAI_AGAIN':
      message = `cannot resolve host ${JSON.stringify(endpoint.address)}: DNS lookup failed (EAI_AGAIN)`;
      break;
    case 'ECONNREFUSED':
      message = `connection refused by ${at}: nothing listens on that port (ECONNREFUSED)`;
      break;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      message = `cannot reach ${at} (${code})`;
      break;
    case 'ECONNRESET':
    case 'EPIPE':
      message = `${at} closed the connection during the TLS handshake (${code}); is it a TLS port?`;
      break;
    case 'ETIMEDOUT':
      message = error.message;
      break;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_HTTP_REQUEST':
    case 'ERR_SSL_UNKNOWN_PROTOCOL':
    case 'ERR_SSL_RECORD_LAYER_FAILURE':
      message = `${at} does not speak TLS (OpenSSL: ${reasonOf(error)}); it looks like a plain-text port, such as HTTP`;
      break;
    default:
      message = code.startsWith('ERR_SSL_')
        ? `TLS handshake with ${at} failed: ${reasonOf(error)} (${code})`
        : `cannot connect to ${at}: ${error.message}${code && !error.message.includes(code) ? ` (${code})` : ''}`;
  }
  const wrapped: SystemError = new Error(message, { cause: error });
  if (code) wrapped.code = code;
  return wrapped;
}

/** How one attempt ended: the secure socket, or an error and whether a TCP connection had been made. */
type Attempt = { socket: TLSSocket } | { error: SystemError; reached: boolean };

/**
 * One connection attempt to one address: TCP within `connectMs`, then the TLS handshake by the
 * deadline. `tls.connect` opens the TCP connection itself (as it does for every TLS client), and its
 * 'connect' event tells a server that was never reached from one that was.
 */
function attempt(endpoint: Endpoint, options: ConnectionOptions, connectMs: number, deadline: number, timeout: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const tlsOptions: ConnectionOptions = { ...options, host: endpoint.address, port: endpoint.port };
    if (endpoint.servername !== undefined) tlsOptions.servername = endpoint.servername;
    else delete tlsOptions.servername;
    const check = tlsOptions.checkServerIdentity;
    if (endpoint.servername === undefined && endpoint.address !== endpoint.host && check !== undefined) {
      // Node checks the certificate against `servername || host`, and an IP target has no servername:
      // an IP target sent elsewhere by --resolve is still checked as the IP it names, as curl does.
      tlsOptions.checkServerIdentity = function identityOfTarget(this: unknown, _address: string, cert: PeerCertificate) {
        return check.call(this, endpoint.identity, cert);
      };
    }
    let reached = false;
    let settled = false;
    const finish = (outcome: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    let socket: TLSSocket;
    try {
      socket = connect(tlsOptions);
    } catch (error) {
      resolve({ error: error as SystemError, reached: false });
      return;
    }
    let timer = setTimeout(() => {
      const error: SystemError = new Error(`no connection to ${where(endpoint)} within ${Math.round(connectMs)} ms (ETIMEDOUT)`);
      error.code = 'ETIMEDOUT';
      socket.destroy(error);
    }, connectMs);
    socket.once('connect', () => {
      reached = true;
      clearTimeout(timer);
      timer = setTimeout(() => {
        const error: SystemError = new Error(`no TLS handshake with ${where(endpoint)} within ${timeout} ms (ETIMEDOUT)`);
        error.code = 'ETIMEDOUT';
        socket.destroy(error);
      }, Math.max(1, deadline - performance.now()));
    });
    socket.once('error', (error: SystemError) => {
      socket.destroy();
      finish({ error, reached });
    });
    socket.once('secureConnect', () => {
      // A late error (the server resetting after the handshake) must not become an uncaught exception.
      socket.on('error', () => {});
      finish({ socket });
    });
    socket.once('close', () => {
      const error: SystemError = new Error('socket closed');
      error.code = 'ECONNRESET';
      finish({ error, reached });
    });
  });
}

/** One error for a host none of whose addresses could be reached: each attempt, in order; the last one's code. */
function unreachableError(endpoint: Endpoint, failures: readonly SystemError[]): Error {
  if (failures.length === 1) return failures[0]!;
  const last = failures[failures.length - 1]!;
  const host = isIP(endpoint.host) === 6 ? `[${endpoint.host}]` : endpoint.host;
  const error: SystemError = new Error(`none of the ${failures.length} addresses of ${host}:${endpoint.port} could be reached: ${failures.map((f) => f.message).join('; ')}`, { cause: last });
  if (last.code !== undefined) error.code = last.code;
  return error;
}

/**
 * Connects and completes a TLS handshake with `endpoint`, within `timeout` ms in all (DNS, TCP and TLS).
 * Resolves with the secure socket (the caller ends it); rejects with a one-sentence error: a
 * validation failure as Node or the pin check raised it, anything else rewritten to say where.
 *
 * The endpoint's addresses are tried in order, as curl tries --resolve addresses: one that cannot be
 * connected to (refused, unreachable, no answer within its share of the time left) gives way to the
 * next. Once a TCP connection is made, that server is the answer: a TLS, certificate or pin failure is
 * final and no other address is tried, so what a check reports is never decided by whichever address
 * happens to pass (curl stops there too). Each of n addresses left gets 1/n of the time left to connect.
 */
export async function connectTls(endpoint: Endpoint, options: ConnectionOptions, timeout = DEFAULT_TIMEOUT): Promise<TLSSocket> {
  // performance.now(), not Date.now(): a test that freezes the clock must not freeze the deadline.
  const deadline = performance.now() + timeout;
  const addresses = endpoint.addresses.length > 0 ? endpoint.addresses : [endpoint.address];
  const failures: SystemError[] = [];
  for (const [index, address] of addresses.entries()) {
    const at: Endpoint = { ...endpoint, address };
    const left = Math.max(1, deadline - performance.now());
    const outcome = await attempt(at, options, left / (addresses.length - index), deadline, timeout);
    if ('socket' in outcome) return outcome.socket;
    const error = connectionError(outcome.error, at) as SystemError;
    // A server was reached: its answer stands, whatever the other addresses would say.
    if (outcome.reached) throw error;
    failures.push(error);
  }
  throw unreachableError(endpoint, failures);
}

const DAY = 24 * 60 * 60 * 1000;

function certificateEntry(info: CertInfo, role: ChainRole, now: number): ChainEntry {
  const notAfter = new Date(info.x509.validTo);
  return {
    role,
    subject: info.subject,
    issuer: info.issuer,
    notBefore: new Date(info.x509.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now) / DAY),
    pin: info.pin,
    fingerprint256: info.fingerprint256,
  };
}

/** leaf for the first certificate of a chain; root for a self-issued CA; else intermediate. */
function certificateRole(info: CertInfo, first: boolean): ChainRole {
  if (info.selfIssued && info.isCA) return 'root';
  if (first || !info.isCA) return 'leaf';
  return 'intermediate';
}

function describeKey(key: KeyObject, isPrivate: boolean): string {
  const details = key.asymmetricKeyDetails ?? {};
  const type = key.asymmetricKeyType ?? 'unknown';
  const size = details.namedCurve ?? (details.modulusLength ? `${details.modulusLength}-bit` : '');
  return `${type.toUpperCase()}${size ? ` ${size}` : ''} ${isPrivate ? 'private' : 'public'} key`;
}

function fileEntry(object: CryptoObject, index: number, now: number): ChainEntry {
  switch (object.kind) {
    case 'certificate':
      return certificateEntry(certInfo(object.certificate), certificateRole(certInfo(object.certificate), index === 0), now);
    case 'key':
      return { role: 'key', subject: describeKey(object.publicKey, object.private), issuer: null, notBefore: null, notAfter: null, daysLeft: null, pin: pinOfSpki(object.spki), fingerprint256: null };
    case 'csr':
      return { role: 'csr', subject: object.subject, issuer: null, notBefore: null, notAfter: null, daysLeft: null, pin: pinOfSpki(object.spki), fingerprint256: null };
  }
}

function inspectFile(target: string, path: string): InspectResult {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as SystemError).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `cannot read ${path}: ${why}`, { cause: error });
  }
  const now = Date.now();
  const chain = readCryptoObjects(bytes, path).map((object, i) => fileEntry(object, i, now));
  return { target, host: null, port: null, trusted: false, error: null, chain, unproven: [], address: null, file: path };
}

const stores = new WeakMap<object, TrustStore>();

function trustStoreOf(ca: CaInput | undefined): TrustStore {
  if (ca === undefined) return TrustStore.default();
  if (typeof ca === 'string') return TrustStore.from(ca);
  let store = stores.get(ca);
  if (!store) {
    store = TrustStore.from(ca as Uint8Array | ReadonlyArray<string | Uint8Array>);
    stores.set(ca, store);
  }
  return store;
}

/**
 * The served certificates in the order the server sent them (`getPeerX509Certificate()` links them so),
 * then what Node linked in from the trust store, with the legacy leaf object for the hostname check.
 * The legacy chain must be read first: once `getPeerX509Certificate()` ran, `getPeerCertificate()`
 * returns an empty object.
 */
function peerCertificates(socket: TLSSocket): { sent: CertInfo[]; candidates: CertInfo[]; leaf: PeerCertificate } {
  const leaf = socket.getPeerCertificate(true);
  const linked = candidatesFromLegacy(leaf);
  const sent: CertInfo[] = [];
  const seen = new Set<string>();
  for (let cert = socket.getPeerX509Certificate(); cert && !seen.has(cert.fingerprint256) && sent.length < 32; cert = cert.issuerCertificate) {
    seen.add(cert.fingerprint256);
    sent.push(certInfo(cert));
  }
  if (sent.length === 0) return { sent: linked, candidates: linked, leaf };
  return { sent, candidates: [...sent, ...linked.filter((info) => !seen.has(info.fingerprint256))], leaf };
}

async function inspectServer(target: string, server: { host: string; port: number }, options: InspectOptions): Promise<InspectResult> {
  const endpoint = endpointOf(server, options);
  const store = trustStoreOf(options.ca);
  const tlsOptions: ConnectionOptions = {
    // Safe only because no application byte is ever sent: the handshake is all this probe does, and it
    // checks the chain itself below, reporting rather than trusting what it sees.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  };
  if (options.ca !== undefined) tlsOptions.ca = [...store.pems];
  const socket = await connectTls(endpoint, tlsOptions, options.timeout ?? DEFAULT_TIMEOUT);
  try {
    // Which of several --resolve addresses answered; a single one is reported as given.
    const connectedTo = endpoint.addresses.length > 1 ? (socket.remoteAddress ?? endpoint.address) : endpoint.address;
    const { sent, candidates, leaf } = peerCertificates(socket);
    if (sent.length === 0) throw new Error(`${where(endpoint)} completed the handshake without a certificate`);
    const proven = proveChain(candidates, store);
    const problems: string[] = [];
    if (!socket.authorized) problems.push(describeVerifyError(String(socket.authorizationError)));
    const identityError = checkServerIdentity(endpoint.identity, leaf);
    if (identityError) problems.push(`${identityError.message.replace(/\.$/, '')} (${(identityError as SystemError).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID'})`);
    if (problems.length === 0 && !proven.anchored) problems.push('the chain could not be proven to a trust anchor, link by link');
    const trusted = problems.length === 0;
    const now = Date.now();
    const shown = trusted ? proven.path : sent;
    const wasSent = new Set(sent.map((info) => info.fingerprint256));
    const chain = shown.map((info, i) => certificateEntry(info, certificateRole(info, i === 0), now));
    const unproven = proven.unproven.filter((info) => wasSent.has(info.fingerprint256)).map((info) => certificateEntry(info, certificateRole(info, false), now));
    return { target, host: endpoint.host, port: endpoint.port, trusted, error: trusted ? null : problems.join('; '), chain, unproven, address: connectedTo, file: null };
  } finally {
    socket.destroy();
  }
}

/**
 * Reads a certificate, bundle, key or CSR file, or connects to a TLS server, and describes what it
 * finds: the data behind `certpin pins`. For a server, `chain` is the verified path (leaf first) when
 * the server passes standard validation and the path is proven to a trust anchor; otherwise it is the
 * chain as served, with `trusted: false` and `error` saying why; `unproven` lists served certificates
 * off the proven path. No application data is ever sent. A file is read, not validated: its objects
 * come in file order, `trusted` is false and `host`/`port` are null.
 *
 * Throws `ERR_CERTPIN_INVALID_INPUT` for an unreadable file or a bad target, and an Error with Node's
 * `code` (ENOTFOUND, ECONNREFUSED, ETIMEDOUT, …) and a one-sentence message when the server cannot be
 * reached or does not speak TLS.
 *
 * @param target - `host`, `host:port`, `[v6]:port`, an `https://` URL (port 443 by default), or the path
 *   of an existing certificate, bundle, key or CSR file.
 * @param options - Trust store (`ca`), `resolve`, `servername` and `timeout` (milliseconds) for a server.
 * @returns What was found: the chain (verified or as served), whether it is trusted, and why not.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_INPUT` for an unreadable file or a bad target.
 * @throws Error with Node's `code` (ENOTFOUND, ECONNREFUSED, ETIMEDOUT, …) when the server cannot be
 *   reached or does not speak TLS.
 * @throws TypeError for a misused option, e.g. a `timeout` that is not a positive number.
 * @example
 * ```js
 * import { inspect } from 'certpin'
 * const { trusted, chain } = await inspect('api.example.com')
 * if (trusted) console.log(chain.map((c) => `${c.role} ${c.pin}`).join('\n'))
 * ```
 */
export async function inspect(target: string, options: InspectOptions = {}): Promise<InspectResult> {
  if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
    throw new TypeError(`timeout must be a positive number of milliseconds, got ${String(options.timeout)}`);
  }
  const parsed = parseTarget(target);
  if (parsed.kind === 'file') return inspectFile(target, parsed.path);
  return inspectServer(target, parsed, options);
}
