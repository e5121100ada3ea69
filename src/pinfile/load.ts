import { channel } from 'node:diagnostics_channel';
import { watch, type FSWatcher, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { PinPolicy, type PolicyOptions } from '../policy.js';
import { warnExpiredPins, type CaInput, type PolicyConfig } from '../config.js';
import { parsePinFile, type PinFileDocument } from './store.js';

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
  /** The trust store, replacing Node's roots (PEM text, DER bytes or an array of them). */
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
}

/**
 * Messages on the `certpin:pinfile` diagnostics channel: `{ path, event: 'reload', version }` after a
 * changed file was applied, `{ path, event: 'error', error }` when it was not.
 */
export const pinFileChannel = channel('certpin:pinfile');

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

function toPolicyConfig(document: PinFileDocument, ca: CaInput | undefined): PolicyConfig {
  // The trust store comes from the caller only: a `ca` field in the file is not part of its format.
  const { ca: _ignored, ...config } = document;
  return ca === undefined ? config : { ...config, ca };
}

const sameFile = (a: Stats | undefined, b: Stats): boolean =>
  a !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

/**
 * Reads a pin file (section 8 of the spec) and builds its policy. With `watch: true` the policy
 * follows the file without a restart. Throws `ERR_CERTPIN_INVALID_CONFIG` naming the file and the
 * field at fault when the file is invalid at load time.
 *
 * The folder is watched, not the file, because pin files are replaced by rename (certpin's own writes,
 * editors, Kubernetes ConfigMaps), which a watch on the file itself stops following. The watcher does
 * not keep the process alive.
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
  if (typeof path !== 'string' || path === '') throw new TypeError('loadPolicy expects the path of a pin file');
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('onError must be a function');
  const debounceMs = options.debounceMs ?? 100;
  if (!(debounceMs >= 0)) throw new TypeError(`debounceMs must be a number of milliseconds >= 0, got ${String(options.debounceMs)}`);
  const fullPath = resolve(path);
  const policyOptions: PolicyOptions = options.onViolation === undefined ? {} : { onViolation: options.onViolation };

  // Watch before the first read, so a change between the two is not missed.
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let pendingEvent = false;
  const schedule = (forFile: boolean): void => {
    pendingEvent ||= forFile;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      const force = pendingEvent;
      pendingEvent = false;
      void reloadQuietly(force);
    }, debounceMs);
    timer.unref();
  };
  if (options.watch === true && options.signal?.aborted !== true) {
    const name = basename(fullPath);
    watcher = watch(dirname(fullPath), { persistent: false }, (_event, filename) => schedule(filename === null || filename === name));
  }

  let lastText: string;
  let lastStat: Stats | undefined;
  try {
    lastStat = await stat(fullPath);
    lastText = await readFile(fullPath, 'utf8');
  } catch (error) {
    watcher?.close();
    throw error;
  }
  let policy: PinFilePolicy;
  try {
    const file = parsePinFile(path, lastText);
    warnExpiredPins(file.validated, path);
    policy = new PinFilePolicy(path, toPolicyConfig(file.document, options.ca), policyOptions);
  } catch (error) {
    watcher?.close();
    throw error;
  }

  const reported = new Set<string>();
  const report = (error: Error): void => {
    if (pinFileChannel.hasSubscribers) pinFileChannel.publish({ path, event: 'error', error });
    if (options.onError !== undefined) {
      try {
        options.onError(error);
      } catch {
        // the policy in force must not depend on a faulty callback
      }
    } else if (!reported.has(error.message)) {
      reported.add(error.message);
      process.emitWarning(error.message, { type: 'CertpinWarning', detail: 'The last valid pin file stays in force.' });
    }
  };

  let queue: Promise<unknown> = Promise.resolve();
  const reloadNow = (force: boolean): Promise<boolean> => {
    const run = queue.then(async () => {
      const current = await stat(fullPath);
      if (!force && sameFile(lastStat, current)) return false;
      const text = await readFile(fullPath, 'utf8');
      // Remember the file only once it was applied, so a failed read is retried on the next event.
      lastStat = undefined;
      if (text === lastText) {
        lastStat = current;
        return false;
      }
      const next = parsePinFile(path, text).document;
      policy.update(toPolicyConfig(next, options.ca));
      lastText = text;
      lastStat = current;
      reported.clear();
      if (pinFileChannel.hasSubscribers) pinFileChannel.publish({ path, event: 'reload', version: policy.version });
      return true;
    });
    queue = run.catch(() => undefined);
    return run;
  };
  function reloadQuietly(force: boolean): Promise<boolean> {
    return reloadNow(force).catch((error: unknown) => {
      report(error instanceof Error ? error : new Error(String(error)));
      return false;
    });
  }

  const close = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    watcher?.close();
    watcher = undefined;
  };
  watcher?.on('error', (error) => {
    report(error);
    close();
  });
  options.signal?.addEventListener('abort', close, { once: true });
  policy.attach(close, () => reloadNow(true));
  return policy;
}
