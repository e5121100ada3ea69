// The one patch of certpin/register: `tls.connect`, through which every TLS client in Node opens its
// connections (https.Agent, http2, undici and fetch, ws, axios, got: docs/register.md). Each call is
// routed by the pin file in force: to the pinned connections (pinned.ts, loaded on the first one) when
// it governs one of the names the connection is for, else through unchanged, with standard
// validation as the application asked for it.
import tls, { type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { CertpinError } from '../errors.js';
import { closeSocket } from '../lib/sockets.js';
import { candidateNames, normalizeConnectArgs } from './connect-args.js';
import { loadNow } from './load-sync.js';
import type { PinFileInForce } from './pin-file.js';
import type { OpenConnection, PinnedConnections } from './pinned.js';

type IdentityCheck = (hostname: string, cert: PeerCertificate) => Error | undefined;

/** A connection to a host the pin file did not govern when it was made. */
interface UnpinnedConnection {
  readonly names: readonly string[];
  /** The pin file's `caFile` bundle it was validated with, if any. */
  readonly trust: Buffer | undefined;
  socket?: TLSSocket;
}

/** Why a connection made without pins is closed after a reload: the application retries it, and the retry is checked. */
function becamePinned(hostname: string): CertpinError {
  return new CertpinError(
    'ERR_CERTPIN_POLICY_CHANGED',
    `certpin: the pin file now governs ${hostname}, which was connected to without pins; the connection was closed, retry it`,
  );
}

function trustChanged(hostname: string): CertpinError {
  return new CertpinError(
    'ERR_CERTPIN_POLICY_CHANGED',
    `certpin: the pin file's trust store (settings.caFile) changed and the connection to ${hostname} was validated with another; the connection was closed, retry it`,
  );
}

const sameBundle = (a: Buffer | undefined, b: Buffer | undefined): boolean => (a === undefined ? b === undefined : b !== undefined && a.equals(b));

/**
 * Options of a connection left to standard validation, except that the pin file's `caFile` bundle is
 * its trust store too, as a policy `ca` is in the transports (a secureContext would bring its own
 * roots, so the context is built from the options), and that a host pinned by a reload since the
 * connection started is refused.
 */
function passThroughOptions(inForce: PinFileInForce, options: ConnectionOptions, connection: UnpinnedConnection): ConnectionOptions {
  const callerCheck = options.checkServerIdentity as IdentityCheck | undefined;
  const trust: ConnectionOptions = {};
  if (connection.trust !== undefined) {
    trust.ca = connection.trust;
    trust.secureContext = undefined;
  }
  return {
    ...options,
    ...trust,
    checkServerIdentity: (hostname, cert) => {
      if (inForce.governs(hostname)) {
        const error = becamePinned(hostname);
        // The caller may have turned rejectUnauthorized off, which would let the returned error pass.
        if (connection.socket) closeSocket(connection.socket, error);
        return error;
      }
      return (callerCheck ?? tls.checkServerIdentity)(hostname, cert);
    },
  };
}

/**
 * Replaces `tls.connect` with the routing one (the caller syncs the exports ES modules import). Returns
 * what to run after a reload, for the connections made without pins: one to a host the pin file now
 * governs, or validated with a `caFile` bundle that changed, is closed (G2). Pinned connections are
 * re-checked by the policy's own update (pinned.ts).
 */
export function patchTlsConnect(inForce: PinFileInForce): () => void {
  const originalConnect = tls.connect as unknown as (...args: unknown[]) => TLSSocket;
  const unpinned = new Map<TLSSocket, UnpinnedConnection>();
  let pinned: PinnedConnections | undefined;
  const pinnedConnections = (): PinnedConnections => {
    pinned ??= new (loadNow<typeof import('./pinned.js')>('./pinned.js').PinnedConnections)(inForce);
    return pinned;
  };

  function connect(this: unknown, ...args: unknown[]): TLSSocket {
    const [options, callback] = normalizeConnectArgs(args);
    const open: OpenConnection = (final) => (callback === undefined ? originalConnect.call(this, final) : originalConnect.call(this, final, callback));
    const names = candidateNames(options);
    if (names.some((name) => inForce.governs(name))) return pinnedConnections().open(open, options, names);
    const connection: UnpinnedConnection = { names, trust: inForce.ca };
    const socket = open(passThroughOptions(inForce, options, connection));
    connection.socket = socket;
    unpinned.set(socket, connection);
    socket.once('close', () => unpinned.delete(socket));
    return socket;
  }

  const recheckConnections = (): void => {
    const ca = inForce.ca;
    for (const [socket, connection] of unpinned) {
      if (socket.destroyed) continue;
      const name = connection.names.find((n) => inForce.governs(n));
      if (name !== undefined) closeSocket(socket, becamePinned(name));
      else if (!sameBundle(connection.trust, ca)) closeSocket(socket, trustChanged(connection.names[0] ?? 'the host'));
    }
  };

  Object.defineProperty(connect, 'name', { value: 'connect' });
  tls.connect = connect as unknown as typeof tls.connect;
  return recheckConnections;
}
