import type { AgentOptions } from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { CertpinError } from '../errors.js';
import { assertPolicy, type PinPolicy } from '../policy/policy.js';
import { pinnedTlsOptions } from './tls.js';
import { checkProxySetting, describeProxy, PinnedProxyAgent, proxyFor, type ProxySetting } from './tunnel.js';

/**
 * Options of {@link pinnedAxiosConfig}.
 *
 * @example
 * ```js
 * pinnedAxiosConfig(policy, axios, { agent: { maxSockets: 16 }, proxy: 'http://proxy.corp:3128' })
 * ```
 */
export interface PinnedAxiosSettings {
  /** `https.Agent` options of the pinned agent (hardened like {@link pinnedAgent}'s). */
  agent?: AgentOptions;
  /**
   * How HTTPS requests reach the origin. The default, `'env'`, follows `https_proxy`/`HTTPS_PROXY`
   * (else `all_proxy`) and `no_proxy`/`NO_PROXY` as axios does, but through certpin's own CONNECT
   * tunnel, with the pins applied to the origin inside it (G4); axios's own proxy code is switched off
   * (`proxy: false`), because its tunnelling agent would drop the pin check (docs/node-tls.md N13).
   * `false` goes direct whatever the environment says; a URL names the proxy.
   * @default 'env'
   */
  proxy?: ProxySetting;
}

/**
 * The fields of an axios request config the adapter looks at (a structural view: certpin does not depend on axios).
 *
 * @example
 * ```js
 * const config = pinnedAxiosConfig(policy, axios)
 * // rejects with ERR_CERTPIN_INVALID_CONFIG: axios's own proxy code would drop the pin check
 * await config.adapter({ ...config, url: 'https://api.example.com/', proxy: { host: 'proxy.corp', port: 3128 } })
 * ```
 */
export interface AxiosConfigView {
  url?: string | undefined;
  baseURL?: string | undefined;
  httpVersion?: number | undefined;
  http2Options?: Record<string, unknown> | undefined;
  httpsAgent?: unknown;
  proxy?: unknown;
  transport?: unknown;
}

/**
 * What {@link pinnedAxiosConfig} returns: a config for `axios.create()` or any request.
 *
 * @example
 * ```js
 * const { httpsAgent, proxy, adapter } = pinnedAxiosConfig(policy, axios)
 * ```
 */
export interface PinnedAxiosConfig<Adapter> {
  /** The pinned agent (and CONNECT tunnel) for HTTP/1.1. */
  httpsAgent: PinnedProxyAgent;
  /** axios's own proxy code is off: certpin's agent tunnels instead. */
  proxy: false;
  /** axios's http adapter behind a check of the final request config. */
  adapter: Adapter;
}

type AxiosHttpAdapter = (config: AxiosConfigView) => unknown;


function refuse(what: string): CertpinError {
  return new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${what}; the request would not be pinned and was not sent.`);
}

function targetOf(config: AxiosConfigView): URL | undefined {
  try {
    return new URL(config.url ?? '', config.baseURL);
  } catch {
    return undefined;
  }
}

const describe = (value: unknown): string => (typeof value === 'object' && value !== null ? value.constructor?.name ?? 'an object' : String(value));

function describeAxiosProxy(proxy: unknown): string {
  if (typeof proxy !== 'object' || proxy === null) return String(proxy);
  const { protocol, host, hostname, port } = proxy as { protocol?: unknown; host?: unknown; hostname?: unknown; port?: unknown };
  return `${typeof protocol === 'string' ? protocol.replace(/:?$/, '://') : ''}${String(hostname ?? host)}${port === undefined ? '' : `:${String(port)}`}`;
}

/**
 * An axios config that pins every mode of axios:
 * - HTTP/1.1 and redirects: a pinned agent as `httpsAgent` (each redirect hop is checked against the
 *   pins of its host, G6);
 * - `httpVersion: 2`: axios calls `http2.connect` itself and ignores `httpsAgent` (docs/node-tls.md
 *   12), so the adapter puts {@link pinnedTlsOptions} in `http2Options` for every request; after
 *   `policy.update()` axios's sessions are kept only if the chains they were verified with pass the
 *   new policy, else no request goes on them again (G2);
 * - proxies, from `HTTPS_PROXY` or given here: certpin's agent tunnels with the pins on the origin
 *   (G4), and axios's own proxy code, whose agent loses the check, is off (`proxy: false`).
 *
 * The adapter refuses, with a `CertpinError` (`ERR_CERTPIN_INVALID_CONFIG`) before any connection, a
 * request whose final config routes around the pins: another `httpsAgent`, a `proxy` (give it to
 * `pinnedAxiosConfig` instead), a `transport`, a `createConnection` in `http2Options`, or HTTP/2 when
 * a proxy applies (axios's HTTP/2 cannot use one). Replacing `adapter` itself replaces certpin's.
 * Passing only `httpsAgent: pinnedAgent(policy)` to axios does not pin `httpVersion: 2` or proxies:
 * an agent cannot see them. Use this config.
 *
 * `axios` is your axios (1.7 or later: `axios.getAdapter`); certpin does not load it.
 *
 * @typeParam Adapter - the type of your axios's http adapter, which the returned `adapter` stands in for.
 * @param policy - the policy every connection is checked against.
 * @param axios - your axios, whose http adapter certpin wraps.
 * @param settings - `agent`: https.Agent options; `proxy`: `'env'` (the default, as axios reads HTTPS_PROXY), a proxy URL or `false`.
 * @throws {TypeError} when `axios` has no `getAdapter` or a setting is unusable; a request whose final
 *   config would bypass the pins is rejected with `ERR_CERTPIN_INVALID_CONFIG` (a {@link CertpinError}).
 * @example
 * ```js
 * import axios from 'axios'
 * import { createPolicy, pinnedAxiosConfig } from 'certpin'
 *
 * const api = axios.create({ ...pinnedAxiosConfig(policy, axios), baseURL: 'https://api.example.com' })
 * await api.post('/login', { user, password })
 * await api.get('/feed', { httpVersion: 2 })
 * ```
 */
export function pinnedAxiosConfig<Adapter extends (config: never) => unknown>(
  policy: PinPolicy,
  axios: { getAdapter(adapters: 'http'): Adapter },
  settings: PinnedAxiosSettings = {},
): PinnedAxiosConfig<Adapter> {
  assertPolicy(policy, 'pinnedAxiosConfig');
  if (typeof axios?.getAdapter !== 'function') throw new TypeError('pinnedAxiosConfig(policy, axios): pass your axios (1.7 or later), whose http adapter certpin wraps');
  const proxySetting = checkProxySetting(settings.proxy ?? 'env', 'pinnedAxiosConfig proxy');
  const httpsAgent = new PinnedProxyAgent(policy, proxySetting, settings.agent);
  const http = axios.getAdapter('http') as unknown as AxiosHttpAdapter;
  const made = new WeakSet<object>();
  interface Pinned {
    version: number;
    caller: Array<[string, unknown]>;
    options: ConnectionOptions;
    /** The sockets of the sessions made with `options`: `policy.update()` closes those it revokes (G2). */
    sockets: Set<TLSSocket>;
  }
  let cache: Pinned[] = [];
  let generation = 0;

  const pin = (caller: Record<string, unknown> | undefined, entries: Array<[string, unknown]>): Pinned => {
    // axios reuses a session for options deep-equal to the ones it was made with, and pinnedTlsOptions
    // may hand out equal objects across updates: a generation of our own tells axios this is not the
    // old session, whose socket the update may just have closed (tls.connect ignores the key).
    const options = { ...pinnedTlsOptions(policy, { ...(caller as ConnectionOptions | undefined) }), certpinGeneration: ++generation } as unknown as ConnectionOptions & { createConnection: (...args: unknown[]) => TLSSocket };
    const entry: Pinned = { version: policy.version, caller: entries, options, sockets: new Set() };
    const create = options.createConnection;
    options.createConnection = function recordingCreateConnection(...args: unknown[]): TLSSocket {
      const socket = create(...args);
      entry.sockets.add(socket);
      socket.once('close', () => entry.sockets.delete(socket));
      return socket;
    };
    made.add(options);
    return entry;
  };

  // pinnedTlsOptions' connections are re-checked by policy.update() itself, which destroys at once the
  // sockets whose chain no longer passes; axios notices a closed session only later. The sessions made
  // with an options object may be reused only while none of their sockets was destroyed; otherwise a
  // new object (never deep-equal to the old one) makes axios open and check a new session.
  const stillPasses = (entry: Pinned): boolean => [...entry.sockets].every((socket) => !socket.destroyed);

  const http2OptionsFor = (caller: Record<string, unknown> | undefined): ConnectionOptions => {
    // axios builds a new http2Options object for every request and reuses an HTTP/2 session only for
    // deep-equal options: the same caller options get the same pinned object, so sessions are shared.
    const entries = Object.entries(caller ?? {});
    const version = policy.version;
    // Compared by content, as axios compares sessions: axios deep-copies http2Options for each request.
    const index = cache.findIndex((c) => isDeepStrictEqual(c.caller, entries));
    const hit = cache[index];
    if (hit && (hit.version === version || stillPasses(hit))) {
      hit.version = version;
      return hit.options;
    }
    const entry = pin(caller, entries);
    cache = [entry, ...cache.filter((_, i) => i !== index).slice(0, 15)];
    return entry.options;
  };

  const adapter = (config: AxiosConfigView): unknown => {
    const target = targetOf(config);
    const where = target ? `${target.origin}` : String(config.url);
    if (config.httpsAgent !== httpsAgent) {
      return Promise.reject(refuse(`axios's httpsAgent for ${where} (${describe(config.httpsAgent)}) is not the pinned agent of this config`));
    }
    if (config.proxy !== false) {
      return Promise.reject(refuse(`axios would tunnel ${where} through the proxy ${describeAxiosProxy(config.proxy)} with its own agent, which skips the pin check; give the proxy to pinnedAxiosConfig(policy, axios, { proxy })`));
    }
    if (config.transport !== undefined) {
      return Promise.reject(refuse(`axios's \`transport\` option (${describe(config.transport)}) replaces the pinned connection for ${where}`));
    }
    if (config.httpVersion === 2) {
      const caller = config.http2Options && made.has(config.http2Options) ? undefined : config.http2Options;
      if (caller?.createConnection !== undefined) {
        return Promise.reject(refuse(`http2Options.createConnection would make the HTTP/2 connection for ${where} without certpin's check`));
      }
      if (target) {
        let proxy: URL | undefined;
        try {
          proxy = proxyFor(proxySetting, target.hostname, Number(target.port) || 443);
        } catch (error) {
          return Promise.reject(error);
        }
        if (proxy) {
          return Promise.reject(refuse(`axios's HTTP/2 cannot go through the proxy ${describeProxy(proxy)} for ${where} (it connects directly); use HTTP/1.1, or pinnedAxiosConfig(policy, axios, { proxy: false }) to connect directly`));
        }
      }
      try {
        config.http2Options = http2OptionsFor(caller) as Record<string, unknown>;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return http(config);
  };

  return { httpsAgent, proxy: false, adapter: adapter as unknown as Adapter };
}
