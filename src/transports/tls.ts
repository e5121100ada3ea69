import { checkServerIdentity as standardIdentityCheck, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { constants } from 'node:crypto';
import { candidatesFromLegacy, TrustStore } from '../chain.js';
import { CertpinError } from '../errors.js';
import type { CaInput } from '../config.js';
import type { PinPolicy } from '../policy.js';
import { notifyViolation } from '../reports.js';

type IdentityCheck = (hostname: string, cert: PeerCertificate) => Error | undefined;

// Caller `ca` options are usually the same string or array object on every connection: caching by
// identity costs a map lookup per connection, where keying by content would re-join the PEM text.
const storesByText = new Map<string, TrustStore>();
const storesByObject = new WeakMap<object, TrustStore>();

/** The anchors a connection is proven against: the policy's `ca` when it has one, else the caller's, else Node's. */
export function storeFor(policy: PinPolicy, callerCa: CaInput | undefined): TrustStore {
  if (policy.ca !== undefined || callerCa === undefined) return policy.trustStore;
  let store = typeof callerCa === 'string' ? storesByText.get(callerCa) : storesByObject.get(callerCa);
  if (!store) {
    store = TrustStore.from(callerCa, 'the ca option');
    if (typeof callerCa === 'string') {
      if (storesByText.size >= 100) storesByText.clear();
      storesByText.set(callerCa, store);
    } else {
      storesByObject.set(callerCa, store);
    }
  }
  return store;
}

/**
 * The handshake check every pinned transport shares: Node's own hostname check, then the policy on
 * the proven chain. It returns errors and never throws (NODE-TLS-NOTES 4): a returned error destroys
 * the socket before any queued request byte is written (G1), a thrown one would not.
 *
 * `port` is the one reports name when the connection does not say: Node calls the check as a method
 * of the options it was given to `tls.connect`, so a connector that serves many origins (undici's)
 * still reports the port of each connection.
 */
export function createIdentityCheck(policy: PinPolicy, trustStore: TrustStore, port: number, next?: IdentityCheck): IdentityCheck {
  return function pinnedIdentityCheck(this: unknown, hostname: string, cert: PeerCertificate): Error | undefined {
    try {
      const standard = standardIdentityCheck(hostname, cert);
      if (standard) return standard;
      const served = candidatesFromLegacy(cert);
      const result = policy.checkCertInfos(hostname, served, { trustStore });
      if (result.violation) notifyViolation(policy, result, { port: portOf(this, port), served });
      if (!result.ok) return result.error ?? new CertpinError('ERR_CERTPIN_MISMATCH', `Certificate pinning failure for ${hostname}`);
      return next?.(hostname, cert);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  };
}

function portOf(connectOptions: unknown, fallback: number): number {
  const value = typeof connectOptions === 'object' && connectOptions !== null ? (connectOptions as { port?: unknown }).port : undefined;
  const port = typeof value === 'number' ? value : typeof value === 'string' && value !== '' ? Number(value) : NaN;
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : fallback;
}

/**
 * The error of a connection or request refused because the policy changed under it: a TLS session
 * resumed or a request queued under an older policy version is not trusted after `policy.update()`
 * (G2). Nothing was sent; retrying runs the check of the policy now in force.
 */
export function policyChangedError(from: number, to: number): CertpinError {
  return new CertpinError(
    'ERR_CERTPIN_POLICY_CHANGED',
    `the pin policy changed (version ${from} to ${to}) while this connection was being set up; nothing was sent, retry the request`,
  );
}

/**
 * Refuses a resumed session started under an older policy version: a resumed handshake skips
 * `checkServerIdentity` (NODE-TLS-NOTES 1), so a session must be resumed only under the version that
 * verified it. Destroying the socket in `secureConnect` happens before Node writes any queued byte.
 */
export function guardResumption(socket: TLSSocket, policy: PinPolicy, version: number): void {
  socket.once('secureConnect', () => {
    if (policy.version !== version && socket.isSessionReused()) socket.destroy(policyChangedError(version, policy.version));
  });
}

const TLS_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** TLS options a caller may not weaken, whatever they pass (G3, G5, NODE-TLS-NOTES 5, 7, 9). */
export function hardenTlsOptions<T extends ConnectionOptions>(policy: PinPolicy, options: T, defaultPort: number): T {
  // `session` would resume without any check; `pskCallback` would make a connection with no certificate.
  const { session: _session, pskCallback: _psk, checkServerIdentity: callerCheck, ...rest } = options;
  // With a policy `ca` ("trust only this CA"), a caller's secureContext would bring its own trust store
  // and widen it for every unpinned host: the context is rebuilt from the hardened options instead.
  if (policy.ca !== undefined) delete rest.secureContext;
  const ca = (policy.ca as string[] | undefined) ?? rest.ca;
  const minVersion = rest.minVersion && TLS_ORDER.indexOf(rest.minVersion) > TLS_ORDER.indexOf('TLSv1.2') ? rest.minVersion : 'TLSv1.2';
  const port = typeof rest.port === 'number' ? rest.port : defaultPort;
  const hardened: ConnectionOptions = {
    ...rest,
    rejectUnauthorized: true,
    minVersion,
    secureOptions: (rest.secureOptions ?? 0) | constants.SSL_OP_NO_RENEGOTIATION,
    checkServerIdentity: createIdentityCheck(policy, storeFor(policy, rest.ca as CaInput | undefined), port, callerCheck),
  };
  if (ca !== undefined) hardened.ca = ca;
  return hardened as T;
}

/**
 * Options for `tls.connect` and `http2.connect` that accept only the pinned identity. `options` pass
 * through, except what would weaken validation: `rejectUnauthorized` is always true, a `session` is
 * dropped (resumption would skip the check), renegotiation is refused, TLS 1.2 is the minimum, and a
 * `checkServerIdentity` of yours runs after certpin's, never instead of it.
 *
 * @example
 * ```js
 * import tls from 'node:tls'
 * import { createPolicy, pinnedTlsOptions } from 'certpin'
 * const socket = tls.connect(pinnedTlsOptions(policy, { host: 'api.example.com', port: 443, servername: 'api.example.com' }))
 * ```
 */
export function pinnedTlsOptions(policy: PinPolicy, options: ConnectionOptions = {}): ConnectionOptions {
  return hardenTlsOptions(policy, options, 443);
}
