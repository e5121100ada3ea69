import { Agent, type AgentOptions } from 'node:https';
import type { ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { PinPolicy } from '../policy.js';
import { guardResumption, hardenTlsOptions } from './tls.js';

const kVersion = Symbol('certpin policy version');
const TAG = ':certpin-v';

type AgentKeyed = ClientRequestArgs & { _agentKey?: unknown };
type TaggedSocket = Duplex & { [kVersion]?: number };

/** Node's internal pool maps, documented as read-only views; the pruning below edits them. */
interface AgentPools {
  freeSockets: Record<string, Duplex[] | undefined>;
  requests: Record<string, unknown[] | undefined>;
  _sessionCache?: { map?: Record<string, unknown> };
  _evictSession?: (key: string) => void;
}

const versionOfKey = (key: string): number => Number(key.slice(key.lastIndexOf(TAG) + TAG.length));
const withVersion = (key: string, version: number): string => `${key.slice(0, key.lastIndexOf(TAG))}${TAG}${version}`;

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

  constructor(policy: PinPolicy, options: AgentOptions = {}) {
    super({ keepAlive: true, ...options });
    this.policy = policy;
    this.#seenVersion = policy.version;
  }

  /**
   * The pool key, which is also the key of the TLS session cache: Node's own key plus the policy
   * version, because Node's ignores `checkServerIdentity` (NODE-TLS-NOTES 2). After `policy.update()`
   * no keep-alive socket or TLS session of an older version is found under the new key (G2). A socket
   * keeps the key it was made with, so Node's bookkeeping of it stays consistent.
   */
  override getName(options: ClientRequestArgs = {}): string {
    if (this.policy.version !== this.#seenVersion) this.#retire();
    const own = (options as AgentKeyed)._agentKey;
    if (typeof own === 'string' && own.includes(TAG)) return own;
    return `${super.getName(options)}${TAG}${this.policy.version}`;
  }

  /**
   * Opens a TLS connection with hardened options (certpin's identity check, `rejectUnauthorized`
   * forced on, a caller's `session` dropped, renegotiation refused). Node's agent then resumes only a
   * session cached under the current policy version.
   */
  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const version = this.policy.version;
    const defaultPort = (this as unknown as { defaultPort?: number }).defaultPort ?? 443;
    const hardened = hardenTlsOptions(this.policy, options as ConnectionOptions, defaultPort) as AgentKeyed;
    const key = hardened._agentKey;
    const host = (hardened as ConnectionOptions).servername || (hardened as ConnectionOptions).host;
    if (typeof host === 'string' && this.policy.reportsEveryConnection(host)) {
      // Report-only or expired pins: every connection must be checked and reported, so no session.
      delete hardened._agentKey;
    } else if (key !== undefined && (typeof key !== 'string' || !key.includes(TAG) || versionOfKey(key) !== version)) {
      // Neither resume a session of another version nor file this connection's session under it.
      delete hardened._agentKey;
    }
    const socket = super.createConnection(hardened, callback) as (TLSSocket & TaggedSocket) | null | undefined;
    if (socket) {
      socket[kVersion] = version;
      guardResumption(socket, this.policy, version);
      // Also refused per socket, in case a caller's own secureContext lacks SSL_OP_NO_RENEGOTIATION (G5).
      socket.disableRenegotiation?.();
    }
    return socket;
  }

  /** A socket made under an older policy version is closed instead of pooled (G2). */
  override keepSocketAlive(socket: Duplex): boolean {
    if ((socket as TaggedSocket)[kVersion] !== this.policy.version) return false;
    return (super.keepSocketAlive(socket) as unknown as boolean | undefined) !== false;
  }

  /**
   * Runs once per policy version change, from the next use of the agent: closes idle sockets of older
   * versions, forgets their TLS sessions, and moves requests still queued under an old key to the
   * current one, so they get a connection checked under the policy now in force.
   */
  #retire(): void {
    const version = this.policy.version;
    this.#seenVersion = version;
    const pools = this as unknown as AgentPools;
    for (const [key, sockets] of Object.entries(pools.freeSockets)) {
      if (!key.includes(TAG) || versionOfKey(key) === version) continue;
      delete pools.freeSockets[key];
      for (const socket of sockets ?? []) socket.destroy();
    }
    for (const [key, queued] of Object.entries(pools.requests)) {
      if (!key.includes(TAG) || versionOfKey(key) === version || !queued) continue;
      delete pools.requests[key];
      const current = withVersion(key, version);
      pools.requests[current] = [...(pools.requests[current] ?? []), ...queued];
    }
    const sessions = pools._sessionCache?.map;
    if (sessions && typeof pools._evictSession === 'function') {
      for (const key of Object.keys(sessions)) {
        if (key.includes(TAG) && versionOfKey(key) !== version) pools._evictSession(key);
      }
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
 * `keepAlive` defaults to `true`; keep-alive sockets and TLS sessions are reused only under the
 * policy version that verified them (G2).
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
