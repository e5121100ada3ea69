import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { AgentOptions } from 'node:https';
import type { ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import { CertpinError } from '../errors.js';
import type { PinPolicy } from '../policy/policy.js';
import { PinnedAgent } from './https.js';

/**
 * Where the pinned agents of the client helpers send their connections:
 * - `false`: straight to the origin;
 * - a URL (string or `URL`) of an HTTP CONNECT proxy, `http://` or `https://`, credentials allowed
 *   (`http://user:pass@proxy.corp:3128`);
 * - `'env'`: the proxy `https_proxy` / `HTTPS_PROXY` (else `all_proxy` / `ALL_PROXY`) names, except for
 *   hosts `no_proxy` / `NO_PROXY` lists (`*`, `host`, `.suffix`, `*.suffix`, each with an optional
 *   `:port`), read at every new connection, as axios and curl do.
 *
 * Whatever the setting, the pins apply to the origin inside the tunnel, never to the proxy (G4).
 *
 * @example
 * ```js
 * pinnedProxyAgent(policy, 'http://proxy.corp:3128')
 * pinnedAxiosConfig(policy, axios, { proxy: 'env' })
 * ```
 */
export type ProxySetting = false | 'env' | string | URL;

const MAX_RESPONSE_HEAD = 16 * 1024;

/** Validates a proxy setting when it is given, so a typo fails at construction, not at the first request. */
export function checkProxySetting(proxy: unknown, where: string): ProxySetting {
  if (proxy === false || proxy === 'env') return proxy;
  if (typeof proxy === 'string' || proxy instanceof URL) {
    proxyUrl(String(proxy), where, (message) => new TypeError(message));
    return proxy;
  }
  throw new TypeError(`${where} must be false, 'env' or the URL of an HTTP CONNECT proxy (http:// or https://), got ${typeof proxy === 'object' ? JSON.stringify(proxy) : String(proxy)}`);
}

function proxyUrl(text: string, where: string, fail: (message: string) => Error): URL {
  let url: URL;
  try {
    // curl and proxy-from-env read `proxy.corp:3128` as http://proxy.corp:3128.
    url = new URL(text.includes('://') ? text : `http://${text}`);
  } catch {
    throw fail(`${where}: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fail(`${where}: ${url.protocol}// proxies are not supported (only HTTP CONNECT over http:// or https://), so the connection would not be pinned`);
  }
  return url;
}

const env = (name: string): string => process.env[name.toLowerCase()] || process.env[name.toUpperCase()] || '';

/** `no_proxy` as proxy-from-env (which axios uses) reads it: true when `host:port` goes direct. */
function bypassesProxy(host: string, port: number): boolean {
  const list = env('no_proxy').toLowerCase();
  if (!list) return false;
  if (list === '*') return true;
  return list.split(/[,\s]+/).some((entry) => {
    if (!entry) return false;
    const match = /^(.+):(\d+)$/.exec(entry);
    const name = match?.[1] ?? entry;
    if (match && Number(match[2]) !== port) return false;
    if (name === '*') return true;
    if (name.startsWith('.') || name.startsWith('*.')) return host.endsWith(name.replace(/^\*/, ''));
    return host === name.replace(/^\[|\]$/g, '');
  });
}

/**
 * The proxy a connection to `host:port` goes through under `setting`, or undefined for a direct one.
 * A proxy in the environment that certpin cannot pin through (`socks5://…`) is refused with a
 * CertpinError rather than ignored: ignoring it would route around what the operator configured.
 */
export function proxyFor(setting: ProxySetting, host: string, port: number): URL | undefined {
  if (setting === false) return undefined;
  if (setting !== 'env') return proxyUrl(String(setting), 'proxy', (message) => new TypeError(message));
  const bare = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (bypassesProxy(bare, port)) return undefined;
  const text = env('https_proxy') || env('all_proxy');
  if (!text) return undefined;
  return proxyUrl(text, 'the proxy named by https_proxy/HTTPS_PROXY/all_proxy', (message) => new CertpinError('ERR_CERTPIN_INVALID_CONFIG', message));
}

/** How a proxy is named in messages: its origin, never its credentials. */
export const describeProxy = (proxy: URL): string => `${proxy.protocol}//${proxy.host}`;

function tunnelError(proxy: URL, target: string, detail: string, cause?: unknown): Error {
  const error = new Error(`the proxy ${describeProxy(proxy)} did not open a tunnel to ${target}: ${detail}`, cause === undefined ? undefined : { cause });
  (error as Error & { code: string }).code = 'ERR_CERTPIN_PROXY_TUNNEL';
  return error;
}

/**
 * Opens an HTTP CONNECT tunnel (RFC 9110 §9.3.6) to `host:port` through `proxy` and resolves the raw
 * socket once the proxy answered 2xx. The proxy itself gets standard TLS validation when it is
 * `https://`; nothing of the request but the CONNECT line (and Proxy-Authorization) reaches it.
 */
export function openTunnel(proxy: URL, host: string, port: number, timeoutMs?: number): Promise<Socket> {
  const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const proxyHost = proxy.hostname.replace(/^\[|\]$/g, '');
    const proxyPort = Number(proxy.port) || (proxy.protocol === 'https:' ? 443 : 80);
    const socket: Socket = proxy.protocol === 'https:'
      ? tlsConnect({ host: proxyHost, port: proxyPort, servername: isIP(proxyHost) ? '' : proxyHost, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: proxyHost, port: proxyPort });
    let head = Buffer.alloc(0);
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error): void => fail(tunnelError(proxy, target, error.message, error));
    const onClose = (): void => fail(tunnelError(proxy, target, 'the connection closed before the proxy answered'));
    const onTimeout = (): void => fail(tunnelError(proxy, target, `no answer within ${timeoutMs} ms`));
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > MAX_RESPONSE_HEAD) fail(tunnelError(proxy, target, 'the answer to CONNECT is too long'));
        return;
      }
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('timeout', onTimeout);
      socket.setTimeout(0);
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
      if (status === undefined || status[0] !== '2') {
        fail(tunnelError(proxy, target, JSON.stringify(statusLine)));
        return;
      }
      // The client speaks first in TLS, so a proxy has nothing to send after its answer; if it did,
      // those bytes belong to the tunnel.
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      socket.pause();
      resolve(socket);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    if (timeoutMs !== undefined && timeoutMs > 0) {
      socket.setTimeout(timeoutMs);
      socket.on('timeout', onTimeout);
    }
    const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
    if (proxy.username || proxy.password) {
      const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      lines.push(`Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
    }
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

type ConnectionCallback = (err: Error | null, stream: Duplex) => void;

/**
 * A {@link PinnedAgent} that reaches origins through an HTTP CONNECT proxy when its
 * {@link ProxySetting} says so. The TLS connection to the origin runs inside the tunnel with the
 * agent's hardened options, so the pins of the origin apply and the proxy sees only ciphertext (G4).
 *
 * @example
 * ```js
 * const agent = pinnedProxyAgent(policy, 'env')
 * agent.proxyFor('api.example.com', 443) // the URL of the proxy HTTPS_PROXY names, or undefined
 * ```
 */
export class PinnedProxyAgent extends PinnedAgent {
  readonly proxy: ProxySetting;

  /**
   * @param policy - the policy every origin connection is checked against.
   * @param proxy - `false` (direct), `'env'` or a proxy URL.
   * @param options - https.Agent options; nothing in them can weaken validation.
   */
  constructor(policy: PinPolicy, proxy: ProxySetting, options: AgentOptions = {}) {
    // Node's own `proxyEnv` agent option (Node 24, 22.21, 20.20) would tunnel a second time, and axios
    // rebuilds an agent that has it: one proxy setting, this one.
    if ((options as { proxyEnv?: unknown }).proxyEnv !== undefined) {
      throw new TypeError("proxyEnv is not supported here: pass the proxy as the proxy setting ('env' or a URL) instead");
    }
    super(policy, options);
    this.proxy = checkProxySetting(proxy, 'proxy');
  }

  /** The proxy a connection to `host:port` would use now, or undefined (read from the environment for `'env'`). */
  proxyFor(host: string, port: number): URL | undefined {
    return proxyFor(this.proxy, host, port);
  }

  override createConnection(options: ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost');
    const port = Number(options.port) || 443;
    let proxy: URL | undefined;
    try {
      proxy = this.proxyFor(host, port);
    } catch (error) {
      // Node's agent turns a callback error into the request's `error` event, never a throw.
      process.nextTick(() => callback?.(error as Error, undefined as unknown as Duplex));
      return undefined;
    }
    if (proxy === undefined) return super.createConnection(options, callback);
    const timeout = typeof options.timeout === 'number' ? options.timeout : undefined;
    openTunnel(proxy, host, port, timeout).then((socket) => {
      let secure: Duplex | null | undefined;
      try {
        secure = super.createConnection({ ...options, socket } as ClientRequestArgs);
      } catch (error) {
        socket.destroy();
        callback?.(error as Error, undefined as unknown as Duplex);
        return;
      }
      if (secure) callback?.(null, secure);
      else callback?.(new Error('the pinned agent made no connection'), undefined as unknown as Duplex);
    }, (error: Error) => callback?.(error, undefined as unknown as Duplex));
    return undefined;
  }
}

/**
 * A pinned `https.Agent` (like {@link pinnedAgent}) that goes through an HTTP CONNECT proxy: for
 * node:https, ws, or any client that takes an agent and has no proxy code of its own. Pins apply to
 * the origin inside the tunnel (G4). An agent of a proxy library (`https-proxy-agent`, `hpagent`)
 * used instead would make its own TLS connection without certpin's check: use this one.
 *
 * @param policy - the policy every origin connection is checked against.
 * @param proxy - `false` (direct), `'env'` (HTTPS_PROXY, ALL_PROXY and NO_PROXY at each connection) or a proxy URL.
 * @param options - https.Agent options; nothing in them can weaken validation.
 * @throws {TypeError} for an unusable proxy setting or Node's own `proxyEnv` option.
 * @example
 * ```js
 * import https from 'node:https'
 * import WebSocket from 'ws'
 * import { pinnedProxyAgent } from 'certpin'
 *
 * const agent = pinnedProxyAgent(policy, 'http://proxy.corp:3128')   // or 'env' for HTTPS_PROXY/NO_PROXY
 * https.get('https://api.example.com/', { agent }, (res) => res.resume())
 * const ws = new WebSocket('wss://api.example.com/stream', { agent })
 * ```
 */
export function pinnedProxyAgent(policy: PinPolicy, proxy: ProxySetting, options: AgentOptions = {}): PinnedProxyAgent {
  return new PinnedProxyAgent(policy, proxy, options);
}
