import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PinPolicy, type PolicyOptions } from '../policy/policy.js';
import { warnExpiredPins, type CaInput, type PolicyConfig, type ValidatedConfig } from '../policy/config.js';
import { CertpinError } from '../errors.js';
import { readCertificates } from '../lib/pem.js';
import { checkDelay, fingerprintOf, followPinFile, type PinFileFollower } from './follow.js';
import { parsePinFile, readPinFileText } from './store.js';

/**
 * Options of {@link loadPolicy}.
 *
 * @example
 * ```js
 * const controller = new AbortController()
 * const policy = await loadPolicy('pins.json', {
 *   watch: true,
 *   onError: (err) => log.error(`pins.json not applied: ${err.message}`),
 *   onViolation: (report) => log.warn(report.message),
 *   signal: controller.signal,
 * })
 * ```
 */
export interface LoadPolicyOptions extends PolicyOptions {
  /**
   * Follow the file: a changed pin file is applied with `policy.update()`, so connections, pooled
   * sockets and TLS sessions made under the old pins are checked again (G2). A file that becomes
   * invalid leaves the last valid policy in force and is reported (see `onError`).
   * @default false
   */
  watch?: boolean;
  /**
   * The trust store, replacing Node's roots (PEM text, DER bytes or an array of them). A pin file can
   * name its own instead, in `settings.caFile`; giving both is refused.
   */
  ca?: CaInput;
  /**
   * Called when a watched file cannot be read or is invalid; the last valid policy stays in force.
   * Without it, each distinct error is emitted once as a process warning (`CertpinWarning`). Either
   * way it is also published on the `certpin:pinfile` diagnostics channel.
   */
  onError?: (error: Error) => void;
  /** Stops watching when aborted (as `policy.close()` does). */
  signal?: AbortSignal;
  /** Quiet time after the last change before the file is read again. @default 100 */
  debounceMs?: number;
  /**
   * Longest wait between a change and the read, however busy the folder is (an application logging
   * into it): the policy follows the file within about this time. @default 500
   */
  maxWaitMs?: number;
}

/**
 * A policy read from a pin file. `close()` stops watching it; `reload()` reads it again now.
 *
 * @example
 * ```js
 * import { loadPolicy } from 'certpin'
 * const policy = await loadPolicy('/etc/myapp/pins.json', { watch: true })
 * process.on('SIGHUP', () => policy.reload().catch((err) => console.error(err.message)))
 * process.once('SIGTERM', () => policy.close())
 * ```
 */
export class PinFilePolicy extends PinPolicy {
  readonly path: string;
  #close: () => void = () => undefined;
  #reload: () => Promise<boolean> = async () => false;

  /** @internal use {@link loadPolicy} */
  constructor(path: string, config: PolicyConfig, options: PolicyOptions) {
    super(config, options);
    this.path = path;
  }

  /** @internal */
  attach(close: () => void, reload: () => Promise<boolean>): void {
    this.#close = close;
    this.#reload = reload;
  }

  /** Stops watching the file. Idempotent. */
  close(): void {
    this.#close();
  }

  /**
   * Reads the file again and applies it if it changed (e.g. from a SIGHUP handler). Resolves to
   * whether the policy changed; rejects, keeping the policy in force, when the file is invalid.
   */
  reload(): Promise<boolean> {
    return this.#reload();
  }
}

/** A pin file's text turned into the policy it means, with the CA bundle it names. @internal */
export interface PinFileConfig {
  readonly text: string;
  readonly config: PolicyConfig;
  readonly validated: ValidatedConfig;
  /** The bytes of the bundle named by `settings.caFile`, when the file names one. */
  readonly caFileBytes: Buffer | undefined;
  /** Where that bundle was read from (absolute), so a follower can tell an unchanged bundle without validating. */
  readonly caFilePath: string | undefined;
  /** Equal for equal text and bundle: what the follower compares. */
  readonly fingerprint: string;
}

/**
 * Validates a pin file's text and reads the CA bundle it names in `settings.caFile`, resolved from
 * the file's folder. The bundle replaces the roots, as `ca` does in a policy (docs/policy.md): "trust only
 * this CA", for pinned and unpinned hosts alike. `label` names the file in messages; `callerCa` is
 * `loadPolicy`'s `ca` option, which may not be combined with a `caFile`. @internal
 */
export function pinFileConfig(fullPath: string, text: string, label: string = fullPath, callerCa?: CaInput): PinFileConfig {
  const { document, validated } = parsePinFile(label, text);
  warnExpiredPins(validated, label);
  // The trust store is the caller's or the file's `caFile`: a `ca` field in the file is not part of its format.
  const { ca: _notPartOfTheFormat, ...config } = document as PolicyConfig;
  const caFile = readCaFile(fullPath, label, config.settings?.caFile, callerCa);
  const ca = caFile?.bytes ?? callerCa;
  return {
    text,
    config: ca === undefined ? config : { ...config, ca },
    validated,
    caFileBytes: caFile?.bytes,
    caFilePath: caFile?.path,
    fingerprint: fingerprintOf(text, caFile?.bytes),
  };
}

/** The bundle `settings.caFile` names, resolved from the pin file's folder; undefined when it names none. */
function readCaFile(pinFilePath: string, label: string, caFile: unknown, callerCa: CaInput | undefined): { bytes: Buffer; path: string } | undefined {
  if (caFile === undefined) return undefined;
  if (typeof caFile !== 'string' || caFile === '') {
    throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${label}: settings.caFile: expected the path of a PEM bundle, got ${JSON.stringify(caFile)}`);
  }
  if (callerCa !== undefined) {
    throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${label}: settings.caFile names a trust store and so does the ca option: give only one of them`);
  }
  const caPath = resolve(dirname(pinFilePath), caFile);
  try {
    const ca = readFileSync(caPath);
    if (readCertificates(ca, caPath).length === 0) throw new Error('it holds no certificate');
    return { bytes: ca, path: caPath };
  } catch (error) {
    throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${label}: settings.caFile: cannot use ${caPath}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads a pin file (section 8 of the spec) and builds its policy. With `watch: true` the policy
 * follows the file without a restart. Throws `ERR_CERTPIN_INVALID_CONFIG` naming the file and the
 * field at fault when the file is invalid at load time.
 *
 * `settings.caFile` (a PEM bundle, relative to the pin file's folder) is the policy's trust store: it
 * replaces Node's roots for every host, pinned or not, as `ca` does in `createPolicy`.
 *
 * The folder is watched, not the file, and any change in it leads to a read: pin files are replaced by
 * rename (certpin's own writes, editors), and Kubernetes swaps a `..data` symlink in ConfigMap and
 * Secret volumes, which a watch on the file never sees. An unchanged file is not applied again, and an
 * invalid one is reported once per distinct content. The watcher does not keep the process alive.
 *
 * @example
 * ```js
 * import { loadPolicy, pinnedFetch } from 'certpin'
 * const policy = await loadPolicy('pins.json', { watch: true, onError: (err) => log.error(err.message) })
 * const fetch = pinnedFetch(policy)
 * // later: policy.close()
 * ```
 */
export async function loadPolicy(path: string, options: LoadPolicyOptions = {}): Promise<PinFilePolicy> {
  checkLoadPolicyArguments(path, options);
  const fullPath = resolve(path);
  const configOf = (text: string): PinFileConfig => pinFileConfig(fullPath, text, path, options.ca);
  const readConfig = async (): Promise<PinFileConfig> => configOf(await readPinFileText(fullPath));
  const policyOptions: PolicyOptions = options.onViolation === undefined ? {} : { onViolation: options.onViolation };
  let policy: PinFilePolicy | undefined;
  // Watch before the first read, so a change between the two is not missed. The follower applies
  // nothing before start(), so never before the policy exists.
  const follower = options.watch === true && options.signal?.aborted !== true
    ? followPinFileInto(() => policy!, fullPath, path, configOf, options)
    : undefined;
  let initial: PinFileConfig;
  try {
    initial = await readConfig();
    policy = new PinFilePolicy(path, initial.config, policyOptions);
  } catch (error) {
    follower?.close();
    throw error;
  }
  attachFile(policy, initial, follower, readConfig, options.signal);
  return policy;
}

function checkLoadPolicyArguments(path: unknown, options: LoadPolicyOptions): void {
  if (typeof path !== 'string' || path === '') throw new TypeError('loadPolicy expects the path of a pin file');
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('onError must be a function');
  checkDelay(options.debounceMs, 'debounceMs');
  checkDelay(options.maxWaitMs, 'maxWaitMs');
}

/** A follower of the pin file that applies each valid change to the policy `policyInForce` returns. */
function followPinFileInto(
  policyInForce: () => PinFilePolicy,
  fullPath: string,
  path: string,
  configOf: (text: string) => PinFileConfig,
  options: LoadPolicyOptions,
): PinFileFollower {
  return followPinFile({
    path: fullPath,
    reportedPath: path,
    prepare: (text) => {
      const next = configOf(text);
      return {
        fingerprint: next.fingerprint,
        caFile: next.caFilePath,
        apply: () => {
          const policy = policyInForce();
          policy.update(next.config);
          return policy.version;
        },
      };
    },
    onError: options.onError,
    warningDetail: 'The last valid pin file stays in force.',
    debounceMs: options.debounceMs,
    maxWaitMs: options.maxWaitMs,
  });
}

/**
 * Gives the policy its `close()` and `reload()`: the follower's, started from the file in force
 * (`initial`), or without one, a read on demand.
 */
function attachFile(
  policy: PinFilePolicy,
  initial: PinFileConfig,
  follower: PinFileFollower | undefined,
  readConfig: () => Promise<PinFileConfig>,
  signal: AbortSignal | undefined,
): void {
  const close = (): void => follower?.close();
  if (follower === undefined) {
    policy.attach(close, oneShotReload(policy, initial.fingerprint, readConfig));
  } else {
    follower.start({ fingerprint: initial.fingerprint, caFile: initial.caFilePath });
    policy.attach(close, () => follower.check());
  }
  // A signal aborted while the first read was in progress has already fired: a listener added now
  // would never run, and the file would be followed after all.
  if (signal?.aborted === true) close();
  else signal?.addEventListener('abort', close, { once: true });
}

/** `reload()` of a policy that does not watch its file: read, compare, apply. */
function oneShotReload(policy: PinPolicy, fingerprint: string, readConfig: () => Promise<PinFileConfig>): () => Promise<boolean> {
  let applied = fingerprint;
  return async () => {
    const next = await readConfig();
    if (next.fingerprint === applied) return false;
    policy.update(next.config);
    applied = next.fingerprint;
    return true;
  };
}
