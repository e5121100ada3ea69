/**
 * The process-wide hook: `node --import certpin/register app.js` (or `--require certpin/register`,
 * or either in `NODE_OPTIONS`) pins every TLS client of the process to the pin file named by
 * `CERTPIN_CONFIG`, with no change to the application.
 *
 * Every TLS client in Node opens its connections through the `connect` export of `node:tls`, looked up
 * on the module object at call time: `https.Agent` (so `https.get`, axios, got, ws), `http2.connect`,
 * and undici (Node's bundled copy behind global `fetch`, and the npm package), checked on Node 20 and
 * 24. That one export is replaced, so pins hold whichever agent or dispatcher does the pooling, also
 * one installed with `setGlobalDispatcher` after this hook ran.
 *
 * The hook reaches the threads and processes the application starts (see {@link pinWorkersAndChildren}):
 * every `Worker` loads it, and it adds itself to `process.env.NODE_OPTIONS` (and makes
 * `CERTPIN_CONFIG` absolute) so that child Node processes inherit it. A child given an environment
 * without them is not pinned.
 *
 * `settings.caFile` is the trust store of every connection, to pinned and unpinned hosts. The pin file
 * is followed however it is replaced, a Kubernetes `..data` symlink swap included (pinfile/follow.ts).
 *
 * @example
 * ```sh
 * CERTPIN_CONFIG=/etc/myapp/pins.json node --import certpin/register app.js
 * ```
 *
 * This module has no top-level await, so that the CommonJS entry can `require()` it.
 * @packageDocumentation
 */
import { readFileSync, writeSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';
import tls, { type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import workerThreads, { type WorkerOptions } from 'node:worker_threads';
import { candidatesFromLegacy } from './chain/prove.js';
import type { CaInput } from './policy/config.js';
import { CertpinError } from './errors.js';
import { normalizeHostname } from './policy/hosts.js';
import { PinPolicy } from './policy/policy.js';
import { followPinFile } from './pinfile/follow.js';
import { pinFileConfig, type PinFileConfig } from './pinfile/load.js';
import { hardenTlsOptions, storeFor } from './transports/handshake.js';
import { notifyViolation } from './reports/deliver.js';

type IdentityCheck = (hostname: string, cert: PeerCertificate) => Error | undefined;

/** What a connection was verified as, by certpin, and under which policy version (G2). */
interface Verified {
  hostname: string;
  /** Every name the connection is for (docs/guarantees.md C4): their pins all apply, on every re-check too. */
  names: readonly string[];
  cert: PeerCertificate;
  /** The caller's `ca`, when the chain was proven against it rather than the policy's store. */
  callerCa: CaInput | undefined;
  storeId: number;
  version: number;
}

interface ConnectionState {
  readonly hardened: boolean;
  readonly names: readonly string[];
  /** For a connection left to standard validation: the pin file's `caFile` bundle it was validated with. */
  trust?: Buffer | undefined;
  socket?: TLSSocket;
  /** Set once certpin verified the connection, or resumed a session it had verified. */
  verified?: Verified;
  /** The session offered for resumption, when certpin let one through. */
  offered?: Verified;
}

/** A pin file read and validated, with the trust store it names (if any). */
type Loaded = PinFileConfig;

const REGISTERED = Symbol.for('certpin.register');
const READ_ERRORS: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'it is a folder', EACCES: 'permission denied' };
/** This module's own file, which workers and child processes load too (see {@link pinWorkersAndChildren}). */
const REGISTER_FILE = fileURLToPath(import.meta.url);
/** Key of the worker environment data holding the pin file in force: `{ path, text }`. */
const IN_FORCE = 'certpin/register: pin file in force';

/** One line on stderr and a non-zero exit: a process that was asked to be pinned never runs unpinned. */
function refuseToStart(message: string): never {
  writeSync(2, `certpin: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(78); // EX_CONFIG (sysexits.h): the configuration is missing or invalid
}

/**
 * Reads and validates the pin file, and the CA bundle it names in `settings.caFile` (relative to the
 * file's folder). The bundle replaces the process's roots, as `ca` does in a policy (docs/policy.md); without
 * it the process's own trust store applies: Node's roots and `NODE_EXTRA_CA_CERTS`.
 */
function readPinFileSync(path: string, text = readFileSync(path, 'utf8')): Loaded {
  return pinFileConfig(path, text);
}

/**
 * The pin file in force. The policy itself is built on first use: building it loads the trust store
 * (Node's ~140 roots), which costs more than the whole rest of startup, and a process that never
 * opens a TLS connection to a pinned host should not pay for it.
 */
class PinFileState {
  readonly path: string;
  #loaded: Loaded;
  #policy: PinPolicy | undefined;

  constructor(path: string, loaded: Loaded) {
    this.path = path;
    this.#loaded = loaded;
  }

  get fingerprint(): string {
    return this.#loaded.fingerprint;
  }

  /** The pin file's `caFile` bundle: "trust only this CA", for every connection of the process. */
  get ca(): Buffer | undefined {
    return this.#loaded.caFileBytes;
  }

  get policy(): PinPolicy {
    this.#policy ??= new PinPolicy(this.#loaded.config);
    return this.#policy;
  }

  /** The version connections are tagged with; 0 until the policy is built (no connection is tagged yet). */
  get version(): number {
    return this.#policy?.version ?? 0;
  }

  /** Whether connections to `hostname` are subject to the policy: the host has pins, or `unpinned` is `deny`. */
  governs(hostname: string): boolean {
    const validated = this.#loaded.validated;
    if (validated.unpinned === 'deny') return true;
    try {
      return validated.index.lookup(normalizeHostname(hostname)).length > 0;
    } catch {
      return true; // a name certpin cannot read is checked, and refused there if need be
    }
  }

  apply(loaded: Loaded): void {
    this.#policy?.update(loaded.config);
    this.#loaded = loaded;
    // A worker started from now on begins with these pins, even if the file turned invalid since.
    workerThreads.setEnvironmentData(IN_FORCE, { path: this.path, text: loaded.text });
  }
}

/** The names Node may check the certificate against (`_tls_wrap.js`: servername, host, the socket's host, 'localhost'). */
function candidateNames(options: ConnectionOptions & { hostname?: unknown }): string[] {
  const names: string[] = [];
  for (const value of [options.servername, options.host, options.hostname, (options.socket as { _host?: unknown } | undefined)?._host]) {
    if (typeof value === 'string' && value !== '') names.push(value);
  }
  if (names.length === 0) names.push('localhost');
  return names;
}

/** `tls.connect(options[, cb])`, `(port[, host][, options][, cb])` and `(path[, options][, cb])`, as one options object. */
function normalizeConnectArgs(args: unknown[]): [ConnectionOptions, (() => void) | undefined] {
  const callback = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
  const [first, second, third] = args;
  if (first !== null && typeof first === 'object') return [{ ...(first as ConnectionOptions) }, callback];
  const options: ConnectionOptions & { path?: string } = {};
  if (typeof first === 'string' && !/^\d+$/.test(first)) options.path = first;
  else if (first !== undefined && typeof first !== 'function') {
    options.port = Number(first);
    if (typeof second === 'string') options.host = second;
  }
  const extra = second !== null && typeof second === 'object' ? second : third !== null && typeof third === 'object' ? third : undefined;
  if (extra) Object.assign(options, extra);
  return [options, callback];
}

/**
 * Installs the hook. Connections to hosts the pin file does not govern keep their options untouched
 * (standard validation, as the application asked for it); connections to governed hosts get certpin's
 * handshake check with `rejectUnauthorized` forced on and renegotiation refused (G1, G3, G5), and
 * resume only TLS sessions certpin verified, re-checked under the policy in force (G2).
 */
function install(state: PinFileState): () => void {
  const originalConnect = tls.connect as unknown as (...args: unknown[]) => TLSSocket;
  const sessions = new WeakMap<Buffer, Verified>();
  const live = new Map<TLSSocket, ConnectionState>();
  /** Whether a connection verified under an older version still passes the policy now in force. */
  const stillTrusted = (verified: Verified, names: readonly string[]): boolean => {
    const policy = state.policy;
    // A session stands for the names it was verified for: resumed for other names, their pins would go unchecked.
    const normalised = names.map(normalizeHostname);
    const covered = new Set(verified.names.map(normalizeHostname));
    if (!normalised.includes(normalizeHostname(verified.hostname)) || !normalised.every((name) => covered.has(name))) return false;
    if (verified.version === policy.version) return true;
    const store = storeFor(policy, verified.callerCa);
    const result = policy.checkCertInfos(verified.names, candidatesFromLegacy(verified.cert), { trustStore: store });
    if (!result.ok || result.violation || (!result.anchored && store.id !== verified.storeId)) return false;
    verified.version = policy.version;
    verified.storeId = store.id;
    return true;
  };

  const hardened = (options: ConnectionOptions, connection: ConnectionState): ConnectionOptions => {
    const policy = state.policy;
    const callerCheck = options.checkServerIdentity as IdentityCheck | undefined;
    const callerCa = policy.ca === undefined ? (options.ca as CaInput | undefined) : undefined;
    // Runs after certpin's check passed: records what was verified, for the session it will issue.
    const recordVerified: IdentityCheck = (hostname, cert) => {
      const error = callerCheck?.(hostname, cert);
      if (error === undefined) {
        const names = [hostname, ...connection.names.filter((name) => name !== hostname)];
        connection.verified = { hostname, names, cert, callerCa, storeId: storeFor(policy, callerCa).id, version: policy.version };
      }
      return error;
    };
    const result = hardenTlsOptions(policy, { ...options, checkServerIdentity: recordVerified }, 443, { onViolation: notifyViolation });
    const session = options.session;
    const offered = session === undefined ? undefined : sessions.get(session);
    // Report-only or expired pins: every connection must run the check and be reported, so no resumption.
    const reportsEvery = connection.names.some((name) => policy.reportsEveryConnection(name));
    if (session !== undefined && offered !== undefined && !reportsEvery && stillTrusted(offered, connection.names)) {
      result.session = session;
      connection.offered = offered;
    }
    return result;
  };

  const passThrough = (options: ConnectionOptions, connection: ConnectionState): ConnectionOptions => {
    const callerCheck = options.checkServerIdentity as IdentityCheck | undefined;
    // With a caFile the bundle is the trust store of unpinned hosts too, as a policy `ca` is in the
    // transports; a secureContext would bring its own roots, so the context is built from the options.
    connection.trust = state.ca;
    const trust: ConnectionOptions = {};
    if (connection.trust !== undefined) {
      trust.ca = connection.trust;
      trust.secureContext = undefined;
    }
    return {
      ...options,
      ...trust,
      // The host was not pinned when the connection started; if a reload pinned it since, refuse.
      checkServerIdentity: (hostname, cert) => {
        if (state.governs(hostname)) {
          const error = becamePinned(hostname);
          // The caller may have turned rejectUnauthorized off, which would let the returned error pass.
          if (connection.socket) closeSocket(connection.socket, error);
          return error;
        }
        return (callerCheck ?? tls.checkServerIdentity)(hostname, cert);
      },
    };
  };

  function pinnedConnect(this: unknown, ...args: unknown[]): TLSSocket {
    const [options, callback] = normalizeConnectArgs(args);
    const names = candidateNames(options);
    const connection: ConnectionState = { hardened: names.some((name) => state.governs(name)), names };
    const final = connection.hardened ? hardened(options, connection) : passThrough(options, connection);
    const socket = callback === undefined ? originalConnect.call(this, final) : originalConnect.call(this, final, callback);
    connection.socket = socket;
    live.set(socket, connection);
    socket.once('close', () => live.delete(socket));
    if (connection.hardened) {
      const version = state.version;
      // Before any listener of the caller's, which could write as soon as the handshake is done.
      socket.prependOnceListener('secureConnect', () => {
        if (!socket.isSessionReused()) return;
        // A resumed handshake skips checkServerIdentity (docs/node-tls.md N1): it stands only on a session
        // certpin verified, still trusted under the policy now in force.
        if (connection.offered && (state.version === version || stillTrusted(connection.offered!, connection.names))) {
          connection.verified = connection.offered;
        } else {
          socket.destroy(policyChanged(connection.names[0] ?? 'the host'));
        }
      });
      socket.on('session', (session: Buffer) => {
        if (connection.verified) sessions.set(session, connection.verified);
      });
    }
    return socket;
  }

  /** After a reload: every open connection must pass the new policy, or is closed (G2). */
  const recheckConnections = (): void => {
    const ca = state.ca;
    for (const [socket, connection] of live) {
      if (socket.destroyed) continue;
      const name = connection.names.find((n) => state.governs(n));
      if (!connection.hardened) {
        if (name !== undefined) closeSocket(socket, becamePinned(name));
        else if (connection.trust === undefined ? ca !== undefined : ca === undefined || !ca.equals(connection.trust)) {
          closeSocket(socket, trustChanged(connection.names[0] ?? 'the host'));
        }
        continue;
      }
      const verified = connection.verified;
      // Still in its handshake: certpin's check reads the policy when it runs.
      if (verified === undefined) continue;
      if (!stillTrusted(verified, verified.names)) closeSocket(socket, policyChanged(verified.hostname));
    }
  };

  Object.defineProperty(pinnedConnect, 'name', { value: 'connect' });
  tls.connect = pinnedConnect as unknown as typeof tls.connect;
  // `import { connect } from 'node:tls'` in application code reads the patched function too.
  syncBuiltinESMExports();
  return recheckConnections;
}

function closeSocket(socket: TLSSocket, error: Error): void {
  // A socket nobody listens to for errors would turn the error into an uncaught exception.
  socket.destroy(socket.listenerCount('error') > 0 ? error : undefined);
}

function becamePinned(hostname: string): CertpinError {
  return new CertpinError(
    'ERR_CERTPIN_MISMATCH',
    `certpin: the pin file now governs ${hostname}, which was connected to without pins; the connection was closed, retry it`,
  );
}

function trustChanged(hostname: string): CertpinError {
  return new CertpinError(
    'ERR_CERTPIN_MISMATCH',
    `certpin: the pin file's trust store (settings.caFile) changed and the connection to ${hostname} was validated with another; the connection was closed, retry it`,
  );
}

function policyChanged(hostname: string): CertpinError {
  return new CertpinError(
    'ERR_CERTPIN_MISMATCH',
    `certpin: the pin file changed and the connection to ${hostname} no longer passes it; the connection was closed`,
  );
}

/**
 * Follows the pin file (see pinfile/follow.ts: any event in its folder, so also a Kubernetes `..data`
 * swap): a valid new version is applied and every open connection re-checked; an invalid one is
 * reported once per distinct content as a `CertpinWarning`, and the last valid pins stay in force.
 */
function follow(state: PinFileState, onReload: () => void, readNow: boolean): void {
  try {
    const follower = followPinFile({
      path: state.path,
      prepare: (text) => {
        const loaded = readPinFileSync(state.path, text);
        return {
          fingerprint: loaded.fingerprint,
          apply: () => {
            state.apply(loaded);
            onReload();
            return state.version;
          },
        };
      },
      warningDetail: 'certpin/register keeps the last valid pin file in force.',
    });
    follower.start(state.fingerprint, readNow);
  } catch (error) {
    process.emitWarning(`certpin: cannot follow ${state.path} for changes: ${(error as Error).message}`, { type: 'CertpinWarning' });
  }
}

/** `--import certpin/register` (or `--require`, `-r`, `=`) in NODE_OPTIONS. */
const BARE_HOOK = /(^|\s)(--import|--require|-r)(?:=|\s+)certpin\/register(?=\s|$)/g;

/** An argument as Node's NODE_OPTIONS parser reads it: in double quotes, `\\` and `"` escaped. */
const quoted = (value: string): string => `"${value.replace(/[\\"]/g, '\\$&')}"`;

/**
 * Extends the hook to the threads and processes the application starts (docs/guarantees.md G8, docs/node-tls.md N15).
 *
 * Workers have their own copies of the built-in modules, so the hook must run in each. `--require`
 * preloads do run in every worker, but `--import` ones only in workers started from a file or URL:
 * an `eval: true` worker runs as a classic script, without the ES module loader's start-up step that
 * imports the `--import` list (Node 20, 22 and 24 alike). And a worker given `execArgv` gets no
 * inherited flag at all. So `Worker` becomes a subclass giving every worker `--require <this file>`
 * in the NODE_OPTIONS of its `env`, which Node parses for a worker whatever its `execArgv`; a worker
 * sharing the process's environment (`SHARE_ENV`) gets it in `execArgv` instead.
 *
 * Child processes: `spawn(process.execPath, …)` gets none of its parent's command-line flags (`fork`
 * passes `execArgv`), but inherits the environment. So the hook adds itself to the process's own
 * `NODE_OPTIONS` (as if the process had been started with `NODE_OPTIONS=--import certpin/register`)
 * and makes `CERTPIN_CONFIG` absolute, so a child in another folder reads the same file.
 */
function pinWorkersAndChildren(path: string): void {
  process.env.CERTPIN_CONFIG = path;
  const url = pathToFileURL(REGISTER_FILE).href;
  // A bare `certpin/register` resolves from the child's folder, which may have no certpin: name the file.
  const options = (process.env.NODE_OPTIONS ?? '').replace(BARE_HOOK, (_match, lead: string, flag: string) => `${lead}${flag} ${quoted(flag === '--import' ? url : REGISTER_FILE)}`);
  process.env.NODE_OPTIONS = options.includes(url) || options.includes(REGISTER_FILE) ? options : `${options} --import ${quoted(url)}`.trim();
  const OriginalWorker = workerThreads.Worker;
  const withHook = (options: WorkerOptions | null | undefined): WorkerOptions => {
    const given = options ?? {};
    if (given.env === workerThreads.SHARE_ENV) {
      // Node reads an environment's NODE_OPTIONS for a worker only when it is given an env of its own.
      // If process.execArgv holds a flag no worker accepts, this throws ERR_WORKER_INVALID_EXEC_ARGV:
      // loud, never an unpinned worker. Giving the worker `execArgv` (or its own env) avoids it.
      return { ...given, execArgv: [...(given.execArgv ?? process.execArgv), '--require', REGISTER_FILE] };
    }
    const env: NodeJS.Dict<string> = { ...((given.env as NodeJS.Dict<string> | null | undefined) ?? process.env) };
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --require ${quoted(REGISTER_FILE)}`.trim();
    env.CERTPIN_CONFIG = path;
    // The process trusts NODE_EXTRA_CA_CERTS whatever a worker's env says (OpenSSL reads it once per
    // process); certpin's chain prover reads it from process.env, so the worker must see it too.
    if (env.NODE_EXTRA_CA_CERTS === undefined && process.env.NODE_EXTRA_CA_CERTS !== undefined) env.NODE_EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
    return { ...given, env };
  };
  class Worker extends OriginalWorker {
    constructor(filename: string | URL, options?: WorkerOptions | null) {
      super(filename, withHook(options));
    }
  }
  workerThreads.Worker = Worker;
}

function register(): void {
  const registry = globalThis as { [REGISTERED]?: string };
  if (registry[REGISTERED] !== undefined) return; // both --require and --import, or two copies of certpin
  const configured = process.env.CERTPIN_CONFIG;
  if (configured === undefined || configured.trim() === '') {
    refuseToStart('CERTPIN_CONFIG is not set: certpin/register needs it to name the pin file to enforce, e.g. CERTPIN_CONFIG=/etc/myapp/pins.json');
  }
  const path = resolve(configured);
  // A worker starts with the pins its parent has in force (the file may have turned invalid since,
  // and the parent keeps its last valid pins), then reads the file itself.
  const inherited = workerThreads.isMainThread ? undefined : (workerThreads.getEnvironmentData(IN_FORCE) as { path: string; text: string } | undefined);
  const inheritedText = inherited?.path === path ? inherited.text : undefined;
  let loaded: Loaded;
  try {
    loaded = readPinFileSync(path, inheritedText);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    refuseToStart(
      err.syscall === undefined
        ? `invalid pin file (CERTPIN_CONFIG): ${err.message}`
        : `cannot read the pin file ${path} (CERTPIN_CONFIG): ${READ_ERRORS[err.code ?? ''] ?? err.message} (${err.code ?? 'error'})`,
    );
  }
  const state = new PinFileState(path, loaded);
  workerThreads.setEnvironmentData(IN_FORCE, { path, text: loaded.text });
  pinWorkersAndChildren(path);
  follow(state, install(state), inheritedText !== undefined);
  registry[REGISTERED] = path;
}

register();
