// The connections certpin/register pins: to hosts the pin file governs. Loaded when the first such
// connection is made (connect.ts, load-sync.ts). Each gets certpin's handshake check, with
// `rejectUnauthorized` forced on and renegotiation refused (G1, G3, G5); it resumes only a TLS session
// certpin verified, re-checked under the policy in force (G2); and, as in the pinned transports, it is
// re-checked when a reload updates the policy and closed if it no longer passes (transports/handshake.ts).
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { PinMismatchError } from '../errors.js';
import { normalizeHostname } from '../policy/hosts.js';
import { notifyViolation } from '../reports/deliver.js';
import { hardenTlsOptions, liveConnections, recheck, type Verification } from '../transports/handshake.js';
import type { PinFileInForce } from './pin-file.js';

/** What a connection was verified as: every name it is for (docs/guarantees.md C4), whose pins all apply on every re-check too. */
interface Verified extends Verification {
  /** The name Node checked the certificate against. */
  readonly hostname: string;
}

interface PinnedConnection {
  readonly names: readonly string[];
  /** Set once certpin verified the connection, or resumed a session it had verified. */
  verified?: Verified;
  /** The session offered for resumption, when certpin let one through. */
  offered?: Verified;
  socket?: TLSSocket;
}

/** Opens the connection with the options given (`tls.connect` as it was, with the caller's `this` and callback). */
export type OpenConnection = (options: ConnectionOptions) => TLSSocket;

/** A session stands for the names it was verified for: resumed for other names, their pins would go unchecked. */
function covers(verified: Verified, names: readonly string[]): boolean {
  const wanted = names.map(normalizeHostname);
  const covered = new Set(verified.names.map(normalizeHostname));
  return wanted.includes(normalizeHostname(verified.hostname)) && wanted.every((name) => covered.has(name));
}

/** {@link recheck}, never throwing: it runs while a reload is applied, for every open connection. */
function recheckSafely(inForce: PinFileInForce, verified: Verified): Error | undefined {
  try {
    return recheck(inForce.policy, verified);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * The pinned connections of the process and the TLS sessions they were given. Each verified
 * connection is in the policy's registry of live connections, which re-checks it when a reload
 * updates the policy in place (G2), as for every pinned transport.
 */
export class PinnedConnections {
  readonly #inForce: PinFileInForce;
  /** Sessions certpin verified, by the session object: the application holds it and passes it back as `session`. */
  readonly #sessions = new WeakMap<Buffer, Verified>();

  constructor(inForce: PinFileInForce) {
    this.#inForce = inForce;
  }

  /** Opens a pinned connection to `names` (candidateNames of its options). */
  open(openConnection: OpenConnection, options: ConnectionOptions, names: readonly string[]): TLSSocket {
    const policy = this.#inForce.policy;
    const connection: PinnedConnection = { names };
    const verifiedAs = (verified: Verified): void => {
      connection.verified = verified;
      if (connection.socket !== undefined) liveConnections(policy).track(connection.socket, verified);
    };
    // Runs after certpin's check and the caller's passed (during the handshake, so once the socket is
    // known): records what was verified, for re-checks and for the session it will issue.
    const onVerified = (verification: Verification): void => {
      const hostname = verification.names[0] ?? names[0] ?? 'localhost';
      verifiedAs({ ...verification, hostname, names: [hostname, ...names.filter((name) => name !== hostname)] });
    };
    const hardened = hardenTlsOptions(policy, options, 443, { onViolation: notifyViolation, onVerified });
    const session = options.session;
    const offered = session === undefined ? undefined : this.#sessions.get(session);
    // Report-only or expired pins: every connection must run the check and be reported, so no resumption.
    const reportsEvery = names.some((name) => policy.reportsEveryConnection(name));
    if (session !== undefined && offered !== undefined && !reportsEvery && covers(offered, names) && recheckSafely(this.#inForce, offered) === undefined) {
      hardened.session = session;
      connection.offered = offered;
    }
    const socket = openConnection(hardened);
    connection.socket = socket;
    // Before any listener of the caller's, which could write as soon as the handshake is done.
    socket.prependOnceListener('secureConnect', () => {
      if (!socket.isSessionReused()) return;
      // A resumed handshake skips checkServerIdentity (docs/node-tls.md N1): it stands only on a session
      // certpin verified, still trusted under the policy now in force.
      const resumed = connection.offered;
      if (resumed === undefined) {
        socket.destroy(new PinMismatchError(names[0] ?? 'the server', [], [], 'a TLS session certpin did not offer was resumed'));
        return;
      }
      const error = recheckSafely(this.#inForce, resumed);
      if (error === undefined) verifiedAs(resumed);
      else socket.destroy(error);
    });
    socket.on('session', (issued: Buffer) => {
      if (connection.verified) this.#sessions.set(issued, connection.verified);
    });
    return socket;
  }
}
