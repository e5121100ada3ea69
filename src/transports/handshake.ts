// The handshake check every pinned transport shares, and what follows a checked connection: the
// hardened TLS options, the trust stores, the record of what each socket and session was verified
// with and its re-check when the policy changes (G2). It knows nothing of reports: what to do with
// a violation is the caller's (see ViolationHandler).
import { checkServerIdentity as standardIdentityCheck, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { constants } from 'node:crypto';
import { candidatesFromLegacy, TrustStore, type CertInfo } from '../chain/prove.js';
import { CertpinError, PinMismatchError } from '../errors.js';
import { closeSocket } from '../lib/sockets.js';
import type { CaInput } from '../policy/config.js';
import type { CheckResult, PinPolicy } from '../policy/policy.js';

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
 * What a connection was verified with: the names it is for, the certificates it served, and the
 * trust store it was proven against. After `policy.update()` this is re-checked against the new
 * policy instead of being trusted or dropped blindly (G2).
 */
export interface Verification {
  readonly names: readonly string[];
  readonly served: readonly CertInfo[];
  /** The caller's `ca`, when the chain was proven against it rather than the policy's store. */
  readonly callerCa: CaInput | undefined;
  storeId: number;
  /** The policy version this still passes under. */
  version: number;
}

/**
 * The names a connection is for (docs/guarantees.md C4): the name Node checks the certificate against (the
 * servername, which node:https and undici take from a `Host` header, else the host) plus the
 * servername and the host dialled, read from the options Node calls the check with.
 */
function connectionNames(connectOptions: unknown, hostname: string): string[] {
  const names = [hostname];
  if (typeof connectOptions === 'object' && connectOptions !== null) {
    const { servername, host } = connectOptions as { servername?: unknown; host?: unknown };
    for (const name of [servername, host]) {
      if (typeof name === 'string' && name !== '' && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

/** What a connection that violated its host's pins was: its port, and what the server sent. */
export interface ViolationContext {
  port: number;
  /** The certificates of the connection, leaf first, as the transport saw them. */
  served: readonly CertInfo[];
}

/**
 * What the handshake check does with a violation (a mismatch, or pins no longer enforced), called
 * inside the TLS callback: it must neither throw nor wait. The transports pass the reporting of
 * `reports/deliver.ts`; report delivery passes one that notifies without delivering, so that a failing report
 * host is not reported to itself.
 */
export type ViolationHandler = (policy: PinPolicy, result: CheckResult, context: ViolationContext) => void;

/** The hooks of {@link hardenTlsOptions}: what to do with a violation, and with a verified connection. */
export interface HardeningHooks {
  onViolation: ViolationHandler;
  onVerified?: ((verification: Verification) => void) | undefined;
}

/**
 * The handshake check every pinned transport shares: Node's own hostname check, then the policy on
 * the proven chain, for every name the connection is for. It returns errors and never throws
 * (docs/node-tls.md N4): a returned error destroys the socket before any queued request byte is written
 * (G1), a thrown one would not.
 *
 * `port` is the one reports name when the connection does not say: Node calls the check as a method
 * of the options it was given to `tls.connect`, so a connector that serves many origins (undici's)
 * still reports the port of each connection. `onVerified` learns what a connection that passed was
 * verified with, for re-checks after an update (G2).
 */
export function createIdentityCheck(
  policy: PinPolicy,
  trustStore: TrustStore,
  port: number,
  onViolation: ViolationHandler,
  next?: IdentityCheck,
  onVerified?: (verification: Verification) => void,
  callerCa?: CaInput,
): IdentityCheck {
  return function pinnedIdentityCheck(this: unknown, hostname: string, cert: PeerCertificate): Error | undefined {
    try {
      const standard = standardIdentityCheck(hostname, cert);
      if (standard) return standard;
      const served = candidatesFromLegacy(cert);
      const names = connectionNames(this, hostname);
      const result = policy.checkCertInfos(names, served, { trustStore });
      if (result.violation) onViolation(policy, result, { port: portOf(this, port), served });
      if (!result.ok) return result.error ?? new PinMismatchError(result.hostname, [...result.chain], [...result.expectedPins]);
      const error = next?.(hostname, cert);
      if (error === undefined) onVerified?.({ names, served, callerCa, storeId: trustStore.id, version: policy.version });
      return error;
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
 * Re-checks what a connection (or TLS session) was verified with against the policy now in force.
 * Returns undefined when it still passes (and marks it current), else the error to close it with: a
 * mismatch, a report-only or expired pin set (whose every connection must be checked and reported
 * afresh), or a trust store that no longer anchors it.
 */
export function recheck(policy: PinPolicy, verification: Verification): Error | undefined {
  if (verification.version === policy.version) return undefined;
  const store = storeFor(policy, verification.callerCa);
  const result = policy.checkCertInfos(verification.names, verification.served, { trustStore: store });
  if (!result.ok) return result.error ?? stillFailsError(result.hostname);
  if (result.violation || (!result.anchored && store.id !== verification.storeId)) return stillFailsError(result.hostname);
  verification.version = policy.version;
  verification.storeId = store.id;
  return undefined;
}

function stillFailsError(hostname: string): CertpinError {
  return new CertpinError(
    'ERR_CERTPIN_POLICY_CHANGED',
    `the pin policy changed and the connection to ${hostname} must be checked again; it was closed, retry the request`,
  );
}

/**
 * The open connections of one policy that certpin verified, with what each was verified with. On
 * `policy.update()`, before the update returns, each is re-checked: kept if it passes, closed if not
 * (G2). This covers what the transports' pools never see again: HTTP/2 sessions, WebSockets and
 * other upgraded sockets, as well as pooled keep-alive sockets.
 */
class LiveConnections {
  readonly #policy: PinPolicy;
  readonly #sockets = new Map<TLSSocket, Verification>();

  constructor(policy: PinPolicy) {
    this.#policy = policy;
    policy.onUpdate(() => this.#recheckAll());
  }

  track(socket: TLSSocket, verification: Verification): void {
    if (socket.destroyed) return;
    if (!this.#sockets.has(socket)) socket.once('close', () => this.#sockets.delete(socket));
    this.#sockets.set(socket, verification);
  }

  verificationOf(socket: TLSSocket): Verification | undefined {
    return this.#sockets.get(socket);
  }

  #recheckAll(): void {
    for (const [socket, verification] of this.#sockets) {
      if (socket.destroyed) {
        this.#sockets.delete(socket);
        continue;
      }
      let error: Error | undefined;
      try {
        error = recheck(this.#policy, verification);
      } catch (cause) {
        error = cause instanceof Error ? cause : new Error(String(cause));
      }
      if (error) {
        this.#sockets.delete(socket);
        closeSocket(socket, error);
      }
    }
  }
}

const liveByPolicy = new WeakMap<PinPolicy, LiveConnections>();

/** The registry of a policy's verified open connections. */
export function liveConnections(policy: PinPolicy): LiveConnections {
  let live = liveByPolicy.get(policy);
  if (!live) {
    live = new LiveConnections(policy);
    liveByPolicy.set(policy, live);
  }
  return live;
}

/**
 * TLS sessions with what the connection that got each one was verified with: a resumed handshake
 * skips `checkServerIdentity` (docs/node-tls.md N1), so a session is offered only while that still
 * passes the policy in force, re-checked after an update (G2) instead of being dropped.
 */
export class VerifiedSessions {
  readonly #entries = new Map<string, { session: Buffer; verification: Verification }>();
  readonly #max: number;

  constructor(max = 100) {
    this.#max = max;
  }

  /** The session to offer for `key`, or undefined (a session that no longer passes is forgotten). */
  get(policy: PinPolicy, key: string): { session: Buffer; verification: Verification } | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (recheck(policy, entry.verification) !== undefined) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, session: Buffer, verification: Verification): void {
    if (this.#max === 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { session, verification });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

/** What one connection was verified with, once its check passed, and its socket, once made. */
export interface VerifiedHolder {
  current?: Verification | undefined;
  socket?: TLSSocket | undefined;
}

/** How {@link followSocket} follows a socket. */
interface FollowOptions {
  /** The holder the connection's identity check fills (from {@link verificationRecorder}). */
  verified: VerifiedHolder;
  /** The session offered for resumption, with what it was verified with. */
  offered?: { verification: Verification } | undefined;
  /** Where the sessions the socket receives are filed, under `sessionKey`. */
  sessions?: VerifiedSessions | undefined;
  sessionKey?: string | undefined;
  /** Called instead of failing the socket when an offered session no longer passes; true if it connects again. */
  onStaleResumption?: (() => boolean) | undefined;
}

/**
 * Follows one pinned TLS socket: tracks it with what it was verified with (a full handshake reports
 * it through `onVerified`; a resumed one stands on the session offered, re-checked under the policy
 * now in force, else it is cut before any byte is written), and files the sessions it receives.
 */
export function followSocket(policy: PinPolicy, socket: TLSSocket, options: FollowOptions): void {
  const { offered, sessions, sessionKey, verified } = options;
  let pendingSession: Buffer | undefined;
  const fileSession = (session: Buffer): void => {
    if (sessions === undefined || sessionKey === undefined) return;
    if (verified.current) sessions.set(sessionKey, session, verified.current);
    else pendingSession = session;
  };
  verified.socket = socket;
  if (verified.current) {
    liveConnections(policy).track(socket, verified.current);
  }
  // Before any listener of the caller's, which could write as soon as the handshake is done.
  socket.prependOnceListener('secureConnect', () => {
    if (!socket.isSessionReused()) {
      if (verified.current && pendingSession) fileSession(pendingSession);
      return;
    }
    const error = offered === undefined
      ? new PinMismatchError((socket as TLSSocket & { servername?: string }).servername || 'the server', [], [], 'a TLS session certpin did not offer was resumed')
      : recheck(policy, offered.verification);
    if (error !== undefined || offered === undefined) {
      if (sessionKey !== undefined) sessions?.delete(sessionKey);
      if (options.onStaleResumption?.()) return;
      socket.destroy(error);
      return;
    }
    verified.current = offered.verification;
    liveConnections(policy).track(socket, offered.verification);
    if (pendingSession) fileSession(pendingSession);
  });
  if (sessions !== undefined && sessionKey !== undefined) socket.on('session', fileSession);
}

/** An identity-check callback that tracks the socket in the policy's registry once it is known. */
export function verificationRecorder(policy: PinPolicy): { holder: VerifiedHolder; onVerified: (verification: Verification) => void } {
  const holder: VerifiedHolder = {};
  return {
    holder,
    onVerified: (verification) => {
      holder.current = verification;
      if (holder.socket) liveConnections(policy).track(holder.socket, verification);
    },
  };
}

const TLS_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** TLS options a caller may not weaken, whatever they pass (G3, G5, docs/node-tls.md N5, N7, N9). */
export function hardenTlsOptions<T extends ConnectionOptions>(policy: PinPolicy, options: T, defaultPort: number, hooks: HardeningHooks): T {
  // `session` would resume without any check; `pskCallback` would make a connection with no certificate.
  const { session: _session, pskCallback: _psk, checkServerIdentity: callerCheck, ...rest } = options;
  // With a policy `ca` ("trust only this CA"), a caller's secureContext would bring its own trust store
  // and widen it for every unpinned host: the context is rebuilt from the hardened options instead.
  if (policy.ca !== undefined) delete rest.secureContext;
  const ca = (policy.ca as string[] | undefined) ?? rest.ca;
  const minVersion = rest.minVersion && TLS_ORDER.indexOf(rest.minVersion) > TLS_ORDER.indexOf('TLSv1.2') ? rest.minVersion : 'TLSv1.2';
  const port = typeof rest.port === 'number' ? rest.port : defaultPort;
  const callerCa = policy.ca === undefined ? (rest.ca as CaInput | undefined) : undefined;
  const hardened: ConnectionOptions = {
    ...rest,
    rejectUnauthorized: true,
    minVersion,
    secureOptions: (rest.secureOptions ?? 0) | constants.SSL_OP_NO_RENEGOTIATION,
    checkServerIdentity: createIdentityCheck(policy, storeFor(policy, callerCa), port, hooks.onViolation, callerCheck, hooks.onVerified, callerCa),
  };
  if (ca !== undefined) hardened.ca = ca;
  return hardened as T;
}
