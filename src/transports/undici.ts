import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import type { Agent, Dispatcher, EnvHttpProxyAgent, ProxyAgent, buildConnector } from 'undici';
import tls, { createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { assertPolicy, type PinPolicy } from '../policy/policy.js';
import { followSocket, hardenTlsOptions, policyChangedError, verificationRecorder, VerifiedSessions } from './handshake.js';
import { notifyViolation } from '../reports/deliver.js';

// undici (a CommonJS package) takes ~200 ms to load here: it is required on the first pinned
// dispatcher, not when certpin is imported, so the CLI and users of the other transports never pay.
const requireFromHere = createRequire(import.meta.url);
let undiciModule: typeof import('undici') | undefined;
function undici(): typeof import('undici') {
  undiciModule ??= requireFromHere('undici') as typeof import('undici');
  return undiciModule;
}

/**
 * Connection options for the origin: `lookup`, `localAddress`, `ca`, `timeout`, `servername`… (never a
 * function).
 *
 * @example
 * ```js
 * const dispatcher = pinnedDispatcher(policy, { connect: { lookup: myResolver, timeout: 5000 } })
 * ```
 */
export type PinnedConnectOptions = buildConnector.BuildOptions;

/**
 * Options of {@link pinnedDispatcher} and {@link pinnedFetch}: undici `Agent` options (pool sizes,
 * timeouts, `allowH2`, …) plus `connect` and `proxy`. A `factory` is refused: it could build pools
 * without the check.
 *
 * @example
 * ```js
 * const options = { connections: 8, connect: { localAddress: '10.0.0.5' }, proxy: 'http://proxy.corp:3128' }
 * const fetch = pinnedFetch(policy, options)
 * ```
 */
export interface PinnedDispatcherOptions extends Omit<Agent.Options, 'connect' | 'factory'> {
  /**
   * TLS and socket options for connections to the origin, hardened like every certpin transport
   * (G3). An object only: a `connect` function would replace undici's connector and with it the pin
   * check, so it is refused with a `TypeError`.
   */
  connect?: PinnedConnectOptions;
  /**
   * Send requests through a proxy. Pins always apply to the origin, inside the tunnel (G4).
   * - a URL (string or `URL`) of an HTTP CONNECT proxy, e.g. `http://proxy.corp:3128`;
   * - undici `ProxyAgent` options (`uri`, `token`, `headers`, `proxyTls`, …); their `requestTls` is
   *   hardened and used for the origin;
   * - `'env'`: undici's `EnvHttpProxyAgent`, which follows `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`
   *   (read again whenever the policy changes).
   *
   * Without `proxy` the environment is ignored, as undici's own `Agent` does.
   */
  proxy?: 'env' | string | URL | Omit<ProxyAgent.Options, 'factory'>;
}

/**
 * An undici `Dispatcher` whose every connection is checked against a {@link PinPolicy} during the
 * handshake. Build it with {@link pinnedDispatcher}.
 *
 * @example
 * ```js
 * const dispatcher = pinnedDispatcher(policy)
 * await request('https://api.example.com/', { dispatcher })
 * await dispatcher.close()
 * ```
 *
 * It holds an inner undici `Agent` (or `ProxyAgent` / `EnvHttpProxyAgent`) and is an undici
 * `Dispatcher` itself (`instanceof Dispatcher`, `request()`, `compose()` work as on an `Agent`). After
 * `policy.update()`, direct connections and TLS sessions are re-checked and kept only if they pass; with
 * a proxy, the next dispatch replaces the inner dispatcher and closes the old one gracefully, so no
 * tunnel outlives the policy that verified it (G2).
 */
export interface PinnedDispatcher extends Dispatcher {
  readonly policy: PinPolicy;
}

/**
 * An undici dispatcher that accepts only servers whose verified chain carries a trusted pin of the
 * host (or, for unpinned hosts, passes standard validation, per the policy's `unpinned` setting).
 * Use it with undici's `request`, `fetch`, `stream`…, or with {@link pinnedFetch}. Avoid making it
 * the global dispatcher: any library can replace a global (docs/node-tls.md N11).
 *
 * The check runs during the handshake and a rejected server receives no request byte (G1). Nothing in
 * `options` weakens validation (G3): `connect` (an object; a function is refused with a `TypeError`)
 * and a proxy's `requestTls` are hardened; `rejectUnauthorized` is forced on, a `session` is ignored,
 * renegotiation is refused (G5). With `proxy`, pins apply to the origin inside the tunnel (G4).
 * After `policy.update()`, every open connection and cached TLS session is re-checked with the chain
 * it was verified with: kept if it passes the new policy, closed if not, so an update that does not
 * change a host's verdict costs that host nothing; requests not yet sent go out on a connection
 * checked under the new policy (G2). With `proxy`, the tunnels are undici's own: an update replaces
 * them (responses already on their way finish on them), and a request queued under the old policy
 * is dispatched again on a tunnel checked under the new one, without having been sent.
 *
 * @example
 * ```js
 * import { request } from 'undici'
 * import { createPolicy, pinnedDispatcher } from 'certpin'
 *
 * const policy = createPolicy({ hosts: { 'api.example.com': { pins: [currentPin, backupPin] } } })
 * const dispatcher = pinnedDispatcher(policy, { connect: { timeout: 5000 }, proxy: 'env' })
 * const { statusCode, body } = await request('https://api.example.com/', { dispatcher })
 * ```
 */
export function pinnedDispatcher(policy: PinPolicy, options: PinnedDispatcherOptions = {}): PinnedDispatcher {
  assertPolicy(policy, 'pinnedDispatcher');
  return new PinnedUndiciDispatcher(policy, options);
}

/**
 * A `fetch` bound to a pinned dispatcher, which it exposes (close it when done).
 *
 * @example
 * ```js
 * const fetch = pinnedFetch(policy)
 * await fetch('https://api.example.com/')
 * await fetch.dispatcher.close()
 * ```
 */
export type PinnedFetch = typeof globalThis.fetch & { readonly dispatcher: PinnedDispatcher };

/**
 * A `fetch` (undici's own) whose every request and redirect goes through a {@link pinnedDispatcher}:
 * redirects are checked against the pins of the host they lead to (G6), and a `dispatcher` in `init`
 * cannot replace the pinned one. `options` are those of {@link pinnedDispatcher}. The dispatcher is
 * exposed as `fetch.dispatcher`, e.g. to close it.
 *
 * @example
 * ```js
 * import { createPolicy, pinnedFetch } from 'certpin'
 *
 * const fetch = pinnedFetch(createPolicy({ hosts: { 'api.example.com': { pins: [currentPin, backupPin] } } }))
 * const res = await fetch('https://api.example.com/v1/me', { headers: { authorization: `Bearer ${token}` } })
 * console.log(await res.json())
 * await fetch.dispatcher.close()
 * ```
 */
export function pinnedFetch(policy: PinPolicy, options: PinnedDispatcherOptions = {}): PinnedFetch {
  const dispatcher = pinnedDispatcher(policy, options);
  const pinned = (input: unknown, init?: Record<string, unknown>): Promise<unknown> =>
    undici().fetch(adoptRequest(input) as Parameters<typeof import('undici').fetch>[0], { ...init, dispatcher } as Parameters<typeof import('undici').fetch>[1]);
  return Object.assign(pinned, { dispatcher }) as unknown as PinnedFetch;
}

/** A Request from another copy of undici (Node's global `Request`): rebuilt, since undici's fetch reads only its own. */
function adoptRequest(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || input instanceof undici().Request || input instanceof URL) return input;
  const r = input as Partial<Request>;
  if (typeof r.url !== 'string' || typeof r.method !== 'string') return input;
  const UndiciRequest = undici().Request;
  return new UndiciRequest(r.url, {
    method: r.method,
    headers: [...(r.headers?.entries() ?? [])],
    body: r.body ?? null,
    redirect: r.redirect ?? 'follow',
    ...(r.signal ? { signal: r.signal } : {}),
    ...(r.body ? { duplex: 'half' as const } : {}),
  } as ConstructorParameters<typeof UndiciRequest>[1]);
}

// ---- the dispatcher: one undici dispatcher inside, chosen by `proxy`, and what policy.update() changes ----

/**
 * The base class of {@link PinnedUndiciDispatcher}: undici's `Dispatcher`, whose prototype carries
 * `request`, `stream`, `pipeline`, `compose`… and makes `instanceof Dispatcher` hold. Naming that class
 * at the top of this module would load undici whenever certpin is imported, so the class is declared on
 * `EventEmitter` (which undici's `Dispatcher` extends) and {@link inheritUndiciDispatcher} puts undici's
 * `Dispatcher` in its place when the first instance is built.
 */
const UndiciDispatcher = EventEmitter as unknown as typeof Dispatcher;

/** Re-parents {@link PinnedUndiciDispatcher} onto undici's `Dispatcher`, once (see {@link UndiciDispatcher}). */
function inheritUndiciDispatcher(): void {
  const { Dispatcher: Base } = undici();
  if (Object.getPrototypeOf(PinnedUndiciDispatcher) === Base) return;
  Object.setPrototypeOf(PinnedUndiciDispatcher, Base);
  Object.setPrototypeOf(PinnedUndiciDispatcher.prototype, Base.prototype);
}

const FORWARDED_EVENTS = ['connect', 'disconnect', 'connectionError', 'drain'] as const;

/**
 * What {@link pinnedDispatcher} returns. It holds one undici dispatcher, built by
 * {@link createInnerDispatcher}, and forwards to it:
 * - direct, every connection is made by certpin's connector ({@link createPinnedConnector}), which
 *   re-checks each open socket and session on update (G2): the inner `Agent` is kept for good, and a
 *   request costs one forwarded call;
 * - through a proxy, the tunnels are made by undici's `ProxyAgent`, which certpin cannot follow: on
 *   the first dispatch after an update the inner dispatcher is replaced and the old one closed
 *   gracefully, and a request queued on it under the old policy is dispatched again
 *   ({@link GuardedHandler}).
 */
class PinnedUndiciDispatcher extends UndiciDispatcher implements PinnedDispatcher {
  readonly policy: PinPolicy;
  readonly #options: PinnedDispatcherOptions;
  readonly #tunnelled: boolean;
  #inner: Dispatcher;
  /** The policy version the inner dispatcher was built under (with a proxy; direct, it serves every version). */
  #version: number;
  #closed = false;
  /** Replaced inner dispatchers still finishing their requests: `close()` and `destroy()` wait for them. */
  readonly #retiring = new Set<Promise<void>>();

  constructor(policy: PinPolicy, options: PinnedDispatcherOptions = {}) {
    inheritUndiciDispatcher(); // before super(), which calls the base this puts in place
    super();
    this.#options = validateOptions(options);
    this.policy = policy;
    this.#tunnelled = this.#options.proxy !== undefined;
    this.#version = policy.version;
    this.#inner = this.#adopt(createInnerDispatcher(policy, this.#options));
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    if (!this.#tunnelled) return this.#inner.dispatch(options, handler);
    const inner = this.#innerForPolicyNow();
    const redispatch: Redispatch = (original) => {
      try {
        this.dispatch(options, original);
      } catch (error) {
        const methods = original as unknown as Methods;
        if (methods.onResponseError) methods.onResponseError(null, error);
        else methods.onError?.(error);
      }
    };
    return inner.dispatch(options, guard(handler, this.policy, this.#version, redispatch));
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.#closed = true;
    const done = Promise.all([this.#inner.close(), ...this.#retiring]).then(() => undefined);
    if (callback === undefined) return done;
    void done.then(callback, callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    this.#closed = true;
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const done = Promise.all([this.#inner.destroy(err), ...this.#retiring]).then(() => undefined);
    if (cb === undefined) return done;
    void done.then(cb, cb);
  }

  /** The proxied inner dispatcher, replaced first if the policy changed since it was built. */
  #innerForPolicyNow(): Dispatcher {
    const version = this.policy.version;
    if (version === this.#version || this.#closed) return this.#inner;
    const old = this.#inner;
    this.#inner = this.#adopt(createInnerDispatcher(this.policy, this.#options));
    this.#version = version;
    const closing = old.close().catch(() => undefined);
    this.#retiring.add(closing);
    void closing.then(() => this.#retiring.delete(closing));
    return this.#inner;
  }

  /** Forwards the inner dispatcher's events while it is the current one. */
  #adopt(inner: Dispatcher): Dispatcher {
    for (const event of FORWARDED_EVENTS) {
      (inner as unknown as NodeJS.EventEmitter).on(event, (...args: unknown[]) => {
        if (inner === this.#inner) (this as unknown as NodeJS.EventEmitter).emit(event, ...args);
      });
    }
    return inner;
  }
}

function validateOptions(options: unknown): PinnedDispatcherOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('pinnedDispatcher: options must be an object');
  const o = options as Record<string, unknown>;
  if (typeof o.connect === 'function') {
    throw new TypeError('pinnedDispatcher: options.connect must be an object of connection options (lookup, localAddress, ca, …); a connect function would replace the connector and with it the pin check');
  }
  if (o.connect !== undefined && (o.connect === null || typeof o.connect !== 'object')) {
    throw new TypeError('pinnedDispatcher: options.connect must be an object of connection options');
  }
  if (o.factory !== undefined) {
    throw new TypeError('pinnedDispatcher: options.factory is not supported: a factory could build pools without the pin check');
  }
  const proxy = o.proxy;
  if (proxy !== undefined && typeof proxy !== 'string' && !(proxy instanceof URL)) {
    if (proxy === null || typeof proxy !== 'object') throw new TypeError('pinnedDispatcher: options.proxy must be a proxy URL, "env" or ProxyAgent options');
    const p = proxy as Record<string, unknown>;
    if (p.factory !== undefined) throw new TypeError('pinnedDispatcher: options.proxy.factory is not supported: a factory could build pools without the pin check');
    if (typeof p.uri !== 'string' && !(p.uri instanceof URL)) throw new TypeError('pinnedDispatcher: options.proxy.uri must be the proxy URL');
    if (typeof p.requestTls === 'function' || (p.requestTls !== undefined && (p.requestTls === null || typeof p.requestTls !== 'object'))) {
      throw new TypeError('pinnedDispatcher: options.proxy.requestTls must be an object of TLS options');
    }
  }
  return o as PinnedDispatcherOptions;
}

/** The undici dispatcher `proxy` asks for, every origin connection of which is checked. */
function createInnerDispatcher(policy: PinPolicy, options: PinnedDispatcherOptions): Dispatcher {
  const { proxy, connect, ...agentOptions } = options;
  const originTls = (extra?: object): ConnectionOptions =>
    hardenTlsOptions(policy, { ...(connect as ConnectionOptions | undefined), ...(extra as ConnectionOptions | undefined) }, 443, { onViolation: notifyViolation });
  if (proxy === undefined) {
    return new (undici().Agent)({ ...agentOptions, connect: createPinnedConnector(policy, options) });
  }
  if (proxy === 'env') {
    // The no-proxy hosts go through an Agent (`connect`), the proxied ones through ProxyAgents
    // (`requestTls`, docs/node-tls.md N6): both are hardened.
    return new (undici().EnvHttpProxyAgent)({ ...agentOptions, connect: createPinnedConnector(policy, options), requestTls: originTls() } as unknown as EnvHttpProxyAgent.Options);
  }
  const proxyOptions: Omit<ProxyAgent.Options, 'factory'> =
    typeof proxy === 'string' || proxy instanceof URL ? { uri: String(proxy) } : proxy;
  // ProxyAgent builds its own connector for the origin from `requestTls` and ignores `connect`.
  return new (undici().ProxyAgent)({ ...agentOptions, ...proxyOptions, requestTls: originTls(proxyOptions.requestTls) as PinnedConnectOptions });
}

// ---- the connector: how certpin opens every direct connection ----

/** The dispatcher options the connector uses, merged as undici's `Agent` merges them. */
interface ConnectorSettings {
  /** What goes to `tls.connect` (hardened per connection). */
  tlsOptions: ConnectionOptions & { keepAlive?: boolean; keepAliveInitialDelay?: number };
  /** What undici's own connector gets for plain `http:` origins. */
  plainOptions: PinnedConnectOptions;
  alpn: string[];
  maxCachedSessions: number;
  connectTimeout: number;
  socketPath: string | undefined;
}

function connectorSettings(o: PinnedDispatcherOptions): ConnectorSettings {
  const settings: Record<string, unknown> = {};
  if (o.allowH2 !== undefined) settings.allowH2 = o.allowH2;
  if (o.maxCachedSessions !== undefined) settings.maxCachedSessions = o.maxCachedSessions;
  if (o.socketPath !== undefined) settings.socketPath = o.socketPath;
  if (o.connectTimeout !== undefined) settings.timeout = o.connectTimeout;
  if (typeof o.autoSelectFamily === 'boolean') {
    settings.autoSelectFamily = o.autoSelectFamily;
    settings.autoSelectFamilyAttemptTimeout = o.autoSelectFamilyAttemptTimeout;
  }
  // As undici's Agent merges them: the `connect` object over the Agent's own settings.
  const merged = { ...settings, ...(o.connect as Record<string, unknown> | undefined) };
  const { allowH2, maxCachedSessions, socketPath, timeout, session: _session, useH2c: _h2c, ...tlsOptions } = merged as ConnectionOptions & {
    allowH2?: boolean; maxCachedSessions?: number; socketPath?: string; timeout?: number; useH2c?: boolean;
  };
  if (maxCachedSessions !== undefined && (!Number.isInteger(maxCachedSessions) || maxCachedSessions < 0)) {
    throw new TypeError('pinnedDispatcher: maxCachedSessions must be a non-negative integer');
  }
  return {
    tlsOptions,
    plainOptions: merged as PinnedConnectOptions,
    alpn: allowH2 === true ? ['http/1.1', 'h2'] : ['http/1.1'],
    maxCachedSessions: maxCachedSessions ?? 100,
    connectTimeout: timeout ?? 10e3,
    socketPath,
  };
}

/**
 * One TLS context for every connection, instead of one per connection (parsing the trust store
 * each time), rebuilt only when an update changes the policy's `ca`.
 */
function sharedSecureContext(policy: PinPolicy, tlsOptions: ConnectionOptions): (hardened: ConnectionOptions) => SecureContext {
  let context: { version: number; ca: string; secureContext: SecureContext } | undefined;
  return (hardened) => {
    if (tlsOptions.secureContext !== undefined && policy.ca === undefined) return tlsOptions.secureContext;
    if (context?.version === policy.version) return context.secureContext;
    const ca = policy.ca?.join('\n') ?? '';
    if (context?.ca !== ca) context = { version: policy.version, ca, secureContext: createSecureContext({ ...hardened, secureContext: undefined } as ConnectionOptions) };
    else context.version = policy.version;
    return context.secureContext;
  };
}

/**
 * certpin's own connector, shared by every origin pool, which does what undici's `buildConnector`
 * does (`tls.connect` with the servername, ALPN, keep-alive, a connect timeout) and besides:
 * - hardens each connection's options and checks every name it is for (docs/guarantees.md C4);
 * - tracks each socket with what it was verified with, so that `policy.update()` re-checks it,
 *   keeping it if it passes and closing it if not (G2), instead of dropping the whole pool;
 * - keeps TLS sessions with what they were verified with, keyed by host, servername and port
 *   (undici's own cache keys by servername only and resumes blindly, docs/node-tls.md N1), and
 *   offers one only while that passes the policy in force;
 * - when a session offered before an update is resumed after it and no longer passes, connects
 *   again with a full handshake instead of failing the request (nothing was sent).
 * Sharing one connector also keeps resumption working when undici drops an idle origin's pool.
 */
function createPinnedConnector(policy: PinPolicy, options: PinnedDispatcherOptions): buildConnector.connector {
  const { tlsOptions, plainOptions, alpn, maxCachedSessions, connectTimeout, socketPath } = connectorSettings(options);
  const sessions = new VerifiedSessions(maxCachedSessions);
  const secureContextFor = sharedSecureContext(policy, tlsOptions);
  let plain: buildConnector.connector | undefined;

  return (options, callback) => {
    if (options.protocol !== 'https:') {
      plain ??= undici().buildConnector({ ...plainOptions });
      return plain(options, callback);
    }
    const servername = options.servername || tlsOptions.servername || serverNameOf(options.host) || undefined;
    const names = [servername, options.hostname].filter((name): name is string => typeof name === 'string' && name !== '');
    // Report-only or expired pins: every connection must be checked and reported, so no session.
    const sessionKey = policy.reportsEveryConnection(names) ? undefined : `${options.hostname}\n${servername ?? ''}\n${options.port}`;
    let settled = false;
    const done = (error: Error | null, socket?: TLSSocket): void => {
      if (settled) return;
      settled = true;
      const respond = callback as (error: Error | null, socket: TLSSocket | null) => void;
      respond(error, error ? null : (socket ?? null));
    };
    const open = (offerSession: boolean): TLSSocket => {
      const { holder, onVerified } = verificationRecorder(policy);
      const hardened = hardenTlsOptions(policy, { ...tlsOptions }, 443, { onViolation: notifyViolation, onVerified });
      const offered = offerSession && sessionKey !== undefined ? sessions.get(policy, sessionKey) : undefined;
      const socket = tls.connect({
        highWaterMark: 16384, // as undici: TLS in Node cannot use a larger one
        ...hardened,
        secureContext: secureContextFor(hardened),
        ...(socketPath !== undefined ? { path: socketPath } : {}),
        ...(servername !== undefined ? { servername } : {}),
        ...(offered ? { session: offered.session } : {}),
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        ALPNProtocols: alpn,
        ...(options.httpSocket ? { socket: options.httpSocket as unknown as Duplex } : {}),
        port: Number(options.port) || 443,
        host: options.hostname,
      } as ConnectionOptions);
      let replaced = false;
      // Also refused per socket, in case a caller's own secureContext lacks SSL_OP_NO_RENEGOTIATION (G5).
      socket.disableRenegotiation?.();
      followSocket(policy, socket, {
        offered,
        sessions: sessionKey === undefined ? undefined : sessions,
        sessionKey,
        verified: holder,
        // A tunnelled socket cannot be dialled again: only a direct connection is retried.
        onStaleResumption: options.httpSocket
          ? undefined
          : () => {
              replaced = true;
              clearTimeout(timer);
              socket.destroy();
              open(false);
              return true;
            },
      });
      if (tlsOptions.keepAlive !== false) socket.setKeepAlive(true, tlsOptions.keepAliveInitialDelay ?? 60e3);
      socket.setNoDelay(true);
      const timer = connectTimeout > 0
        ? setTimeout(() => socket.destroy(new (undici().errors.ConnectTimeoutError)(`Connect Timeout Error (attempted address: ${options.hostname}:${options.port}, timeout: ${connectTimeout}ms)`)), connectTimeout)
        : undefined;
      timer?.unref();
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        if (!replaced && !socket.destroyed) done(null, socket);
      });
      socket.on('error', (error: Error) => {
        clearTimeout(timer);
        if (!replaced) done(error);
      });
      return socket;
    };
    return open(true) as unknown as ReturnType<buildConnector.connector>;
  };
}

/** The servername undici takes from a `Host` header (`host[:port]`, `[v6]:port`): none for an IP. */
function serverNameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0] ?? '';
  return name === '' || isIP(name) !== 0 ? undefined : name;
}

// ---- requests through a proxy, taken back when the policy changed before they were written ----

type Handler = Dispatcher.DispatchHandler;
type AnyFunction = (...args: unknown[]) => unknown;
type Methods = Record<string, AnyFunction | undefined>;

/** Dispatches a request again, on the dispatcher of the policy now in force. */
type Redispatch = (handler: Handler) => void;

/**
 * Checks, when undici is about to write a request, that the policy has not changed since the request
 * was dispatched (with a proxy, whose tunnels undici makes and certpin replaces on update). undici
 * calls `onRequestStart`/`onConnect` before writing any byte and drops the request when aborted
 * there, so a request queued under an older policy never goes out on a tunnel that policy accepted:
 * it is dispatched again, on a connection checked under the policy now in force (G2), and the
 * caller sees an error only if that one fails. One class per handler style, to keep undici's choice.
 */
class GuardedHandler {
  protected readonly inner: Methods;
  readonly #policy: PinPolicy;
  readonly #version: number;
  readonly #redispatch: Redispatch;
  /** Set once the request was taken back from the old dispatcher: what it says next is not the caller's. */
  protected moved = false;
  /** Set once the request was let through to be written. */
  protected started = false;

  constructor(inner: Handler, policy: PinPolicy, version: number, redispatch: Redispatch) {
    this.inner = inner as unknown as Methods;
    this.#policy = policy;
    this.#version = version;
    this.#redispatch = redispatch;
  }

  /** Takes a stale request back: aborts it where it is (nothing was written) and dispatches it again. */
  protected moveIfStale(abort: (reason: Error) => void): boolean {
    const now = this.#policy.version;
    if (now === this.#version) {
      this.started = true;
      return false;
    }
    this.moved = true;
    abort(policyChangedError(this.#version, now));
    queueMicrotask(() => this.#redispatch(this.inner as unknown as Handler));
    return true;
  }

  /**
   * An error for a request that never started, from a dispatcher replaced since (its tunnels are
   * being closed): the request is dispatched again instead, as nothing of it was sent.
   */
  protected movedOnError(): boolean {
    if (this.moved) return true;
    if (this.started || this.#policy.version === this.#version) return false;
    this.moved = true;
    queueMicrotask(() => this.#redispatch(this.inner as unknown as Handler));
    return true;
  }
}

class GuardedControllerHandler extends GuardedHandler {
  onRequestStart(controller: { abort(reason: Error): void }, context: unknown): unknown {
    if (this.moveIfStale((reason) => controller.abort(reason))) return undefined;
    return this.inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(...args: unknown[]): unknown { return this.inner.onRequestUpgrade?.(...args); }
  onResponseStart(...args: unknown[]): unknown { return this.inner.onResponseStart?.(...args); }
  onResponseData(...args: unknown[]): unknown { return this.inner.onResponseData?.(...args); }
  onResponseEnd(...args: unknown[]): unknown { return this.inner.onResponseEnd?.(...args); }
  onResponseError(...args: unknown[]): unknown { return this.movedOnError() ? undefined : this.inner.onResponseError?.(...args); }
}

class GuardedLegacyHandler extends GuardedHandler {
  onConnect(abort: (reason: Error) => void, context: unknown): unknown {
    if (this.moveIfStale(abort)) return undefined;
    return this.inner.onConnect?.(abort, context);
  }
  onError(...args: unknown[]): unknown { return this.movedOnError() ? undefined : this.inner.onError?.(...args); }
  onUpgrade(...args: unknown[]): unknown { return this.inner.onUpgrade?.(...args); }
  onResponseStarted(...args: unknown[]): unknown { return this.inner.onResponseStarted?.(...args); }
  onHeaders(...args: unknown[]): unknown { return this.inner.onHeaders?.(...args); }
  onData(...args: unknown[]): unknown { return this.inner.onData?.(...args); }
  onComplete(...args: unknown[]): unknown { return this.inner.onComplete?.(...args); }
  onBodySent(...args: unknown[]): unknown { return this.inner.onBodySent?.(...args); }
  onRequestSent(...args: unknown[]): unknown { return this.inner.onRequestSent?.(...args); }
}

function guard(handler: Handler, policy: PinPolicy, version: number, redispatch: Redispatch): Handler {
  const guarded = typeof (handler as unknown as Methods).onRequestStart === 'function'
    ? new GuardedControllerHandler(handler, policy, version, redispatch)
    : new GuardedLegacyHandler(handler, policy, version, redispatch);
  return guarded as unknown as Handler;
}
