import { Agent, type AgentOptions } from 'node:https';
import type { ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { assertPolicy, type PinPolicy } from '../policy/policy.js';
import { followSocket, hardenTlsOptions, liveConnections, verificationRecorder, VerifiedSessions } from './handshake.js';
import { notifyViolation } from '../reports/deliver.js';

type AgentKeyed = ClientRequestArgs & { _agentKey?: unknown };
type OnCreate = (err: Error | null, stream: Duplex) => void;

/** Node's internal pool map, documented as a read-only view; the pruning below edits it. */
interface AgentPools {
  freeSockets: Record<string, Duplex[] | undefined>;
}

/**
 * An `https.Agent` whose every connection is checked against a {@link PinPolicy} during the
 * handshake. Build it with {@link pinnedAgent}.
 *
 * @example
 * ```js
 * const agent = pinnedAgent(policy, { maxSockets: 16 })
 * https.get('https://api.example.com/', { agent }, (res) => res.resume())
 * ```
 */
export class PinnedAgent extends Agent {
  readonly policy: PinPolicy;
  #seenVersion: number;
  /** Sessions with what they were verified with: Node's own cache would resume one without a check (docs/node-tls.md N1, N2). */
  readonly #sessions: VerifiedSessions;

  constructor(policy: PinPolicy, options: AgentOptions = {}) {
    assertPolicy(policy, 'pinnedAgent');
    super({ keepAlive: true, ...options });
    this.policy = policy;
    this.#seenVersion = policy.version;
    this.#sessions = new VerifiedSessions(options.maxCachedSessions ?? 100);
  }

  /**
   * Node's pool key. Sockets are pooled across policy versions: `policy.update()` re-checks each open
   * socket against the new policy and closes those that fail (G2), so a pooled socket is always one
   * that passes the policy in force; the sockets it closed are taken out of the pool here.
   */
  override getName(options: ClientRequestArgs = {}): string {
    if (this.policy.version !== this.#seenVersion) this.#pruneClosed();
    return super.getName(options);
  }

  /**
   * Opens a TLS connection with hardened options (certpin's identity check for every name the
   * connection is for, `rejectUnauthorized` forced on, a caller's `session` dropped, renegotiation
   * refused) and resumes only a session whose verification passes the policy in force. Never throws:
   * an error goes to the request's 'error' event, as any connection error does.
   */
  override createConnection(options: ClientRequestArgs, callback?: OnCreate): Duplex | null | undefined {
    try {
      const defaultPort = (this as unknown as { defaultPort?: number }).defaultPort ?? 443;
      const { holder, onVerified } = verificationRecorder(this.policy);
      const hardened = hardenTlsOptions(this.policy, options as ConnectionOptions, defaultPort, { onViolation: notifyViolation, onVerified }) as AgentKeyed & ConnectionOptions;
      const key = hardened._agentKey;
      delete hardened._agentKey;
      // Report-only or expired pins: every connection must be checked and reported, so no session.
      const names = [hardened.servername, hardened.host].filter((name): name is string => typeof name === 'string' && name !== '');
      const sessionKey = typeof key === 'string' && !this.policy.reportsEveryConnection(names) ? key : undefined;
      const offered = sessionKey === undefined ? undefined : this.#sessions.get(this.policy, sessionKey);
      if (offered) hardened.session = offered.session;
      const socket = super.createConnection(hardened, callback) as TLSSocket | null | undefined;
      if (socket) {
        followSocket(this.policy, socket, { offered, sessions: this.#sessions, sessionKey, verified: holder });
        // Also refused per socket, in case a caller's own secureContext lacks SSL_OP_NO_RENEGOTIATION (G5).
        socket.disableRenegotiation?.();
      }
      return socket;
    } catch (error) {
      if (typeof callback !== 'function') throw error;
      // Node's agent reads only the error when there is one (http Agent#createSocket).
      callback(error instanceof Error ? error : new Error(String(error)), undefined as unknown as Duplex);
      return undefined;
    }
  }

  /** Only a socket whose verification passes the policy in force goes back to the pool (G2). */
  override keepSocketAlive(socket: Duplex): boolean {
    const verification = liveConnections(this.policy).verificationOf(socket as TLSSocket);
    if (verification === undefined || verification.version !== this.policy.version) return false;
    return (super.keepSocketAlive(socket) as unknown as boolean | undefined) !== false;
  }

  /** Drops from the pool the idle sockets the last update closed, before Node could hand one out. */
  #pruneClosed(): void {
    this.#seenVersion = this.policy.version;
    const pools = this as unknown as AgentPools;
    for (const [key, sockets] of Object.entries(pools.freeSockets)) {
      const open = (sockets ?? []).filter((socket) => !socket.destroyed);
      if (open.length === 0) delete pools.freeSockets[key];
      else if (open.length !== sockets?.length) pools.freeSockets[key] = open;
    }
  }
}

/**
 * An `https.Agent` that accepts only servers whose verified chain carries a trusted pin of the host
 * (or, for unpinned hosts, passes standard validation, per the policy's `unpinned` setting). Works
 * with `node:https`, axios (`httpsAgent`), got (`agent: { https }`), ws (`agent`) and anything else
 * that takes an agent.
 *
 * The check runs during the handshake: a rejected server receives no request byte (G1). `options`
 * are `https.Agent` options and pass through, except that nothing in them weakens validation (G3):
 * `rejectUnauthorized` is forced on (also under `NODE_TLS_REJECT_UNAUTHORIZED=0`), a `session` is
 * ignored, renegotiation is refused (G5), and a `checkServerIdentity` of yours runs after certpin's.
 * `keepAlive` defaults to `true`. After `policy.update()`, every open connection (pooled keep-alive
 * sockets, WebSockets and other upgraded sockets) and every cached TLS session is re-checked with
 * the chain it was verified with: kept if it passes the new policy, closed if not (G2). An update
 * that does not change a host's verdict costs that host nothing.
 *
 * @example
 * ```js
 * import https from 'node:https'
 * import axios from 'axios'
 * import { createPolicy, pinnedAgent } from 'certpin'
 *
 * const policy = createPolicy({ hosts: { 'api.example.com': { pins: [currentPin, backupPin] } } })
 * const agent = pinnedAgent(policy)
 * https.get('https://api.example.com/', { agent }, (res) => res.resume())
 * await axios.get('https://api.example.com/', { httpsAgent: agent })
 * ```
 */
export function pinnedAgent(policy: PinPolicy, options: AgentOptions = {}): Agent {
  return new PinnedAgent(policy, options);
}
