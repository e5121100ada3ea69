import { readFileSync } from 'node:fs';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { KeyObject } from 'node:crypto';
import type { CaInput } from '../policy/config.js';
import { candidatesFromLegacy, certInfo, proveChain, TrustStore, type CertInfo } from '../chain/prove.js';
import { CertpinError } from '../errors.js';
import { readCryptoObjects, type CryptoObject } from '../lib/pem.js';
import { pinOfSpki } from '../policy/pin.js';
import { connectTls, DEFAULT_TIMEOUT, describeVerifyError, servedCertificates, where, type SystemError } from './connect.js';
import { endpointOf, parseTarget } from './target.js';

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
  const sent = servedCertificates(socket).map(certInfo);
  const seen = new Set(sent.map((info) => info.fingerprint256));
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
