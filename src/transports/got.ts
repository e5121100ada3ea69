import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders, type ClientSessionRequestOptions } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { Agent, AgentOptions } from 'node:https';
import { isIP } from 'node:net';
import { CertpinError } from '../errors.js';
import type { CaInput } from '../policy/config.js';
import { assertPolicy, type PinPolicy } from '../policy/policy.js';
import { PinnedAgent } from './https.js';
import { createIdentityCheck, storeFor } from './handshake.js';
import { pinnedTlsOptions } from './tls.js';
import { notifyViolation } from '../reports/deliver.js';
import { checkProxySetting, describeProxy, openTunnel, PinnedProxyAgent, proxyFor, type ProxySetting } from './tunnel.js';

/**
 * Options of {@link pinnedGotOptions}.
 *
 * @example
 * ```js
 * pinnedGotOptions(policy, { agent: { maxSockets: 16 }, proxy: 'http://proxy.corp:3128' })
 * ```
 */
export interface PinnedGotSettings {
  /** `https.Agent` options of the HTTP/1.1 agent (hardened like {@link pinnedAgent}'s). */
  agent?: AgentOptions;
  /**
   * An HTTP CONNECT proxy for every request, HTTP/1.1 and HTTP/2, with the pins applied to the origin
   * inside the tunnel (G4). got itself has no proxy support and ignores `HTTPS_PROXY`; `'env'` follows
   * it (and `NO_PROXY`) here.
   * @default false
   */
  proxy?: ProxySetting;
}

/**
 * The fields of got's request options the guard looks at (a structural view: certpin does not depend on got).
 *
 * @example
 * ```js
 * const guard = pinnedGotOptions(policy).hooks.beforeRequest[0]
 * guard({ url: 'https://api.example.com/', agent: {} }) // throws ERR_CERTPIN_INVALID_CONFIG: not the pinned agent
 * ```
 */
export interface GotRequestOptionsView {
  url?: URL | string | undefined;
  http2?: boolean | undefined;
  agent?: { https?: unknown; http2?: unknown } | undefined;
  request?: unknown;
  h2session?: unknown;
  createConnection?: unknown;
}

/**
 * What {@link pinnedGotOptions} returns: options for `got.extend()` (or any got call).
 *
 * @example
 * ```js
 * const { agent, hooks } = pinnedGotOptions(policy)
 * ```
 */
export interface PinnedGotOptions {
  agent: { https: Agent; http2: PinnedHttp2Agent };
  hooks: {
    /** certpin's guard: refuses, before any connection, a request whose final options route around the pins. */
    beforeRequest: Array<(options: GotRequestOptionsView) => void>;
  };
  /**
   * With a policy `ca`: the trust store of http2-wrapper's ALPN probe, which connects with got's own
   * TLS options before either agent is chosen (its socket is then closed unused).
   */
  https?: { certificateAuthority: string[] };
}

interface SessionEntry {
  session: ClientHttp2Session;
  socket: TLSSocket;
  tls: ConnectionOptions;
  version: number;
  name: string;
  port: number;
  peer?: PeerCertificate;
  streams: number;
}

// The TLS options of a request that reach the origin connection; everything else of got's request
// options (headers, method, createConnection, h2session, agent) never does.
const TLS_KEYS = [
  'ca', 'cert', 'key', 'passphrase', 'pfx', 'ciphers', 'honorCipherOrder', 'minVersion', 'maxVersion',
  'sigalgs', 'dhparam', 'ecdhCurve', 'crl', 'secureOptions', 'lookup', 'family', 'localAddress', 'checkServerIdentity',
] as const;

const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
const idOf = (value: object): number => {
  let id = objectIds.get(value);
  if (id === undefined) objectIds.set(value, (id = ++nextObjectId));
  return id;
};

/**
 * An HTTP/2 agent for got (http2-wrapper's agent interface): every session is made by certpin over a
 * TLS connection hardened by {@link pinnedTlsOptions}, so got's `http2: true` is pinned. It never takes
 * the socket http2-wrapper opened to probe ALPN (docs/node-tls.md N12): its `createConnection` is not
 * http2-wrapper's, which makes http2-wrapper close that socket unused. Sessions are per origin, host
 * dialled and TLS options, never coalesced across origins by certificate names (RFC 8336 origin
 * sets), and after `policy.update()` a session is kept only if the chain it was verified with passes
 * the new policy (G2). {@link pinnedGotOptions} makes one; use it through got.
 *
 * @example
 * ```js
 * const options = pinnedGotOptions(policy)
 * await got('https://api.example.com/', { ...options, http2: true })
 * options.agent.http2.destroy() // closes its sessions
 * ```
 */
export class PinnedHttp2Agent {
  readonly protocol = 'https:';
  readonly policy: PinPolicy;
  readonly proxy: ProxySetting;
  readonly #sessions = new Map<string, SessionEntry>();
  readonly #pending = new Map<string, Promise<SessionEntry>>();

  /**
   * @param policy - the policy every session is checked against.
   * @param proxy - `false` (direct), `'env'` or a proxy URL: sessions are tunnelled, pins on the origin.
   */
  constructor(policy: PinPolicy, proxy: ProxySetting = false) {
    assertPolicy(policy, 'PinnedHttp2Agent');
    this.policy = policy;
    this.proxy = checkProxySetting(proxy, 'proxy');
  }

  /** Never called by http2-wrapper for this agent; refuses, so nothing can hand it an unchecked socket. */
  createConnection(): never {
    throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', 'the pinned HTTP/2 agent makes its own connections; a socket cannot be given to it');
  }

  /** The http2-wrapper agent call: a stream on a pinned session for `origin`. */
  async request(origin: URL, options: Record<string, unknown>, headers: OutgoingHttpHeaders, streamOptions?: ClientSessionRequestOptions): Promise<ClientHttp2Stream> {
    const entry = await this.#session(origin, options);
    const stream = entry.session.request(headers, streamOptions);
    entry.streams++;
    entry.session.ref();
    stream.once('close', () => {
      if (--entry.streams === 0 && !entry.session.destroyed) entry.session.unref();
    });
    return stream;
  }

  /** Closes every session (open streams are cut). */
  destroy(): void {
    for (const entry of this.#sessions.values()) entry.session.destroy();
    this.#sessions.clear();
  }

  async #session(origin: URL, options: Record<string, unknown>): Promise<SessionEntry> {
    const tls: ConnectionOptions = {};
    for (const key of TLS_KEYS) if (options[key] !== undefined) (tls as Record<string, unknown>)[key] = options[key];
    const host = String(options.host ?? origin.hostname).replace(/^\[|\]$/g, '');
    const port = Number(options.port) || Number(origin.port) || 443;
    const named = typeof options.servername === 'string' ? options.servername : origin.hostname.replace(/^\[|\]$/g, '');
    // An IP address is never sent as SNI (RFC 6066 §3); the name checked is then the host.
    const servername = isIP(named) ? '' : named;
    const key = [host, port, servername, ...TLS_KEYS.map((k) => {
      const value = options[k];
      return typeof value === 'object' && value !== null ? `#${idOf(value)}` : typeof value === 'function' ? `#${idOf(value)}` : String(value);
    })].join('|');
    const existing = this.#sessions.get(key);
    if (existing && this.#usable(existing)) return existing;
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const made = this.#connect(origin, host, port, servername, tls).then((entry) => {
      this.#sessions.set(key, entry);
      const forget = (): void => {
        if (this.#sessions.get(key) === entry) this.#sessions.delete(key);
      };
      entry.session.once('close', forget);
      entry.session.once('goaway', forget);
      entry.session.on('error', forget);
      return entry;
    });
    this.#pending.set(key, made);
    try {
      return await made;
    } finally {
      this.#pending.delete(key);
    }
  }

  /** G2: a session of an older policy version is re-checked on the chain it was verified with. */
  #usable(entry: SessionEntry): boolean {
    if (entry.session.destroyed || entry.session.closed) return false;
    const version = this.policy.version;
    if (entry.version === version) return true;
    const check = createIdentityCheck(this.policy, storeFor(this.policy, entry.tls.ca as CaInput | undefined), entry.port, notifyViolation);
    const error = entry.peer ? check.call(entry.tls, entry.name, entry.peer) : new CertpinError('ERR_CERTPIN_POLICY_CHANGED', 'no verified chain to re-check');
    if (error) {
      // The socket first: destroying only the session would still write a GOAWAY to a peer the
      // policy no longer trusts.
      entry.socket.destroy();
      entry.session.destroy();
      return false;
    }
    entry.version = version;
    return true;
  }

  async #connect(origin: URL, host: string, port: number, servername: string, callerTls: ConnectionOptions): Promise<SessionEntry> {
    const version = this.policy.version;
    const proxy = proxyFor(this.proxy, host, port);
    const tunnel = proxy ? await openTunnel(proxy, host, port) : undefined;
    let tls: ConnectionOptions;
    let socket: TLSSocket;
    try {
      tls = pinnedTlsOptions(this.policy, {
        ...callerTls,
        host,
        port,
        servername,
        ALPNProtocols: ['h2'],
        ...(tunnel ? { socket: tunnel } : {}),
      });
      socket = tlsConnect(tls);
    } catch (error) {
      tunnel?.destroy();
      throw error;
    }
    const session = http2Connect(origin, { createConnection: () => socket });
    session.on('error', () => {});
    const entry: SessionEntry = { session, socket, tls, version, name: servername || host, port, streams: 0 };
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      socket.once('error', onError);
      session.once('error', onError);
      socket.once('secureConnect', () => {
        socket.off('error', onError);
        session.off('error', onError);
        if (socket.alpnProtocol !== 'h2') {
          const through = proxy ? ` through ${describeProxy(proxy)}` : '';
          session.destroy();
          reject(new Error(`${origin.origin}${through} did not agree to HTTP/2 (ALPN ${String(socket.alpnProtocol)})`));
          return;
        }
        entry.peer = socket.getPeerCertificate(true);
        resolve();
      });
    });
    session.unref();
    return entry;
  }
}

function refuse(what: string): never {
  throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${what}; the request would not be pinned and was not sent. Use pinnedGotOptions(policy, { proxy, agent }) for proxies and agent options.`);
}

const describe = (value: unknown): string => (typeof value === 'object' && value !== null ? value.constructor?.name ?? 'an object' : String(value));

/**
 * got options that pin every mode of got: HTTP/1.1 through a {@link pinnedAgent}, `http2: true`
 * through a {@link PinnedHttp2Agent} (http2-wrapper's own ALPN probe would otherwise carry the
 * request on an unchecked socket, docs/node-tls.md N12), redirects (each hop is checked against the
 * pins of its host, G6), and a proxy given here (tunnelled, pins on the origin, G4).
 *
 * A `beforeRequest` hook refuses, with a `CertpinError` (`ERR_CERTPIN_INVALID_CONFIG`) before any
 * connection, what would route around the pinned agents: another `agent.https` or `agent.http2`
 * (e.g. a proxy library's agent), a `request` function, an `h2session` or a `createConnection`.
 * got runs `beforeRequest` hooks in the order the options were merged: give these options last to
 * `got.extend(yours, pinnedGotOptions(policy))`, so that the check sees what your hooks changed.
 *
 * @param policy - the policy every connection is checked against.
 * @param settings - `agent`: https.Agent options; `proxy`: `false` (the default), `'env'` or a proxy URL.
 * @throws {TypeError} for an unusable proxy setting or agent option; at request time the guard throws
 *   `ERR_CERTPIN_INVALID_CONFIG` (a {@link CertpinError}) for options that would bypass the pins.
 * @example
 * ```js
 * import got from 'got'
 * import { createPolicy, pinnedGotOptions } from 'certpin'
 *
 * const client = got.extend(pinnedGotOptions(policy))
 * await client.post('https://api.example.com/login', { http2: true, json: { user, password } })
 * const viaProxy = got.extend(pinnedGotOptions(policy, { proxy: 'env' }))
 * ```
 */
export function pinnedGotOptions(policy: PinPolicy, settings: PinnedGotSettings = {}): PinnedGotOptions {
  assertPolicy(policy, 'pinnedGotOptions');
  const proxy = checkProxySetting(settings.proxy ?? false, 'pinnedGotOptions proxy');
  const https = proxy === false ? new PinnedAgent(policy, settings.agent) : new PinnedProxyAgent(policy, proxy, settings.agent);
  const http2 = new PinnedHttp2Agent(policy, proxy);
  const guard = (options: GotRequestOptionsView): void => {
    const url = String(options.url ?? '');
    if (options.request !== undefined) refuse(`got's \`request\` option (${describe(options.request)}) replaces certpin's agents for ${url}`);
    if (options.h2session !== undefined) refuse(`got's \`h2session\` option sends ${url} on a session certpin did not check`);
    if (options.createConnection !== undefined) refuse(`got's \`createConnection\` option makes the connection for ${url} without certpin's check`);
    if (options.agent?.https !== https) refuse(`\`agent.https\` (${describe(options.agent?.https)}) is not the pinned agent of these options`);
    if (options.http2 && options.agent?.http2 !== http2) refuse(`\`agent.http2\` (${describe(options.agent?.http2)}) is not the pinned HTTP/2 agent of these options`);
  };
  const options: PinnedGotOptions = { agent: { https, http2 }, hooks: { beforeRequest: [guard] } };
  const ca = policy.ca as string[] | undefined;
  if (ca !== undefined) options.https = { certificateAuthority: ca };
  return options;
}
