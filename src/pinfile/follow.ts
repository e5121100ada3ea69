/**
 * The one follower of a pin file, used by `loadPolicy({ watch: true })` and by `certpin/register`.
 *
 * - The folder is watched, not the file, and any event in it leads to a read: pin files are replaced
 *   by rename (certpin's writer, editors), and a Kubernetes ConfigMap or Secret volume swaps its
 *   `..data` symlink, so the file's own name never gets an event (docs/node-tls.md N16).
 * - Events are debounced, with a maximum wait: under a sustained burst of writes (an application
 *   logging into the same folder) the file is still read at least every `maxWaitMs`.
 * - What is read is de-duplicated by content: a file whose text (and CA bundle) is the one in force is
 *   neither validated nor applied again, and an invalid one is reported once per distinct content,
 *   however many other files of the folder change.
 * @internal
 * @packageDocumentation
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pinFileChannel } from '../channels.js';


/** What identifies the content of a pin file: compared with what a read finds, before any validation. */
export interface PinFileContent {
  /** Everything the file brings, as {@link fingerprintOf} writes it (its text, and the CA bundle it names): equal means unchanged. */
  readonly fingerprint: string;
  /**
   * The absolute path of the CA bundle the text names (`settings.caFile`), if any. Without it a
   * fingerprint that has a bundle never matches a read, which then validates the file as before.
   */
  readonly caFile?: string | undefined;
}

/** A pin file read and validated, ready to be applied. */
export interface PreparedPinFile extends PinFileContent {
  /** Puts it in force; returns the policy version now in force, for the `reload` message. */
  apply(): number;
}

/** What one read of the file came to: applied, the content in force already, or not applied (invalid, unreadable). */
export type ReadOutcome = 'applied' | 'unchanged' | 'failed';

export interface FollowOptions {
  /** The absolute path of the pin file. */
  readonly path: string;
  /** The path reported on the diagnostics channel (as the caller gave it). @default path */
  readonly reportedPath?: string;
  /** Validates a text of the file (and reads what it names); throws when it cannot be applied. */
  prepare(text: string): PreparedPinFile;
  /** Called once per distinct failure; without it, each distinct message is one `CertpinWarning`. */
  readonly onError?: ((error: Error) => void) | undefined;
  /** The warning's `detail`. */
  readonly warningDetail: string;
  /** Quiet time after the last event before the file is read. @default 100 */
  readonly debounceMs?: number | undefined;
  /** Longest time between the first event of a burst and the read. @default 500 */
  readonly maxWaitMs?: number | undefined;
  /** Called after a changed file was applied. */
  readonly onApplied?: (() => void) | undefined;
  /** Called after every read, with what it came to (for tests and diagnostics: a read that changes nothing is silent otherwise). */
  readonly onRead?: ((outcome: ReadOutcome) => void) | undefined;
}

export interface PinFileFollower {
  /**
   * Starts reading on events, from the file in force (its content, or just its fingerprint). Events seen
   * before (the watch starts first, so that a change during the first read is not missed), or
   * `readNow`, lead to a read now.
   */
  start(inForce: PinFileContent | string, readNow?: boolean): void;
  /** Reads the file now and applies it if it changed; resolves to whether it did, rejects (unreported) if invalid. */
  check(): Promise<boolean>;
  /** Stops following. Idempotent. */
  close(): void;
}

/** setTimeout fires after 1 ms for delays above 2^31-1 ms (docs/node-tls.md N18). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Throws a TypeError unless `value` is undefined or a usable delay. */
export function checkDelay(value: number | undefined, name: string, fallback = 0): number {
  const delay = value ?? fallback;
  if (typeof delay !== 'number' || !(delay >= 0 && delay <= MAX_DELAY_MS)) {
    throw new TypeError(`${name} must be a number of milliseconds from 0 to ${MAX_DELAY_MS}, got ${String(value)}`);
  }
  return delay;
}

/**
 * What identifies a pin file's content: its text and, when it names one, its CA bundle's bytes. The
 * content itself, not a hash of it: comparing strings is cheaper than a first hash at start-up. The
 * separator cannot occur in a valid pin file (JSON allows no raw NUL), so no text alone equals a
 * fingerprint with a bundle.
 */
export function fingerprintOf(text: string, ca?: Uint8Array): string {
  return ca === undefined ? text : `${text}\u0000${Buffer.from(ca).toString('base64')}`;
}

const contentOf = (content: PinFileContent): PinFileContent => ({ fingerprint: content.fingerprint, caFile: content.caFile });

/**
 * Whether `text` (just read) and the bundle the content in force names are that content: then there
 * is nothing to validate. A bundle that cannot be read is a change (validation will report it).
 */
async function isInForce(text: string, inForce: PinFileContent): Promise<boolean> {
  if (text.includes('\u0000')) return false; // not a pin file; and never mistaken for a fingerprint with a bundle
  if (inForce.caFile === undefined) return fingerprintOf(text) === inForce.fingerprint;
  // Same text means same settings.caFile, hence the same path: only the bundle's bytes can differ.
  if (!inForce.fingerprint.startsWith(text)) return false;
  let ca: Buffer;
  try {
    ca = await readFile(inForce.caFile);
  } catch {
    return false;
  }
  return fingerprintOf(text, ca) === inForce.fingerprint;
}

/**
 * Follows `options.path`: watches its folder now, reads on events once `start()` is called. The
 * watcher keeps no process alive.
 * @throws the error of `fs.watch` when the folder cannot be watched
 */
export function followPinFile(options: FollowOptions): PinFileFollower {
  const debounceMs = checkDelay(options.debounceMs, 'debounceMs', 100);
  const maxWaitMs = checkDelay(options.maxWaitMs, 'maxWaitMs', 500);
  const reportedPath = options.reportedPath ?? options.path;
  let applied: PinFileContent | undefined;
  let started = false;
  let missed = false;
  /** The content (or read error) last reported as failing, so that it is reported once. */
  let failed: string | undefined;
  const warned = new Set<string>();
  let quietTimer: NodeJS.Timeout | undefined;
  let maxTimer: NodeJS.Timeout | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let watcher: FSWatcher | undefined;

  const report = (key: string, error: Error): void => {
    if (key === failed) return;
    failed = key;
    if (pinFileChannel.hasSubscribers) pinFileChannel.publish({ path: reportedPath, event: 'error', error });
    if (options.onError !== undefined) {
      try {
        options.onError(error);
      } catch {
        // the policy in force must not depend on a faulty callback
      }
    } else if (!warned.has(error.message)) {
      warned.add(error.message);
      process.emitWarning(error.message, { type: 'CertpinWarning', detail: options.warningDetail });
    }
  };

  const settled = (outcome: ReadOutcome): void => {
    try {
      options.onRead?.(outcome);
    } catch {
      // an observer must not change what is in force
    }
  };

  /** Reads the file; applies it unless it is the content in force. Resolves to whether it applied it. */
  const readOnce = async (quiet: boolean): Promise<boolean> => {
    let text: string;
    try {
      text = await readFile(options.path, 'utf8');
    } catch (error) {
      // A missing file mid-swap is reported like any content: once, until something else is read.
      if (quiet) report(`read ${(error as Error).message}`, error as Error);
      throw error;
    }
    // An application logging into the folder makes a read per burst: the same file is not validated again.
    if (applied !== undefined && (await isInForce(text, applied))) {
      failed = undefined;
      return false;
    }
    let prepared: PreparedPinFile;
    try {
      prepared = options.prepare(text);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      if (quiet) report(`${text}\u0000${err.message}`, err);
      throw err;
    }
    failed = undefined;
    if (prepared.fingerprint === applied?.fingerprint) {
      applied = contentOf(prepared); // the same content, now known with where its bundle is
      return false;
    }
    const version = prepared.apply();
    applied = contentOf(prepared);
    warned.clear();
    if (pinFileChannel.hasSubscribers) pinFileChannel.publish({ path: reportedPath, event: 'reload', version });
    options.onApplied?.();
    return true;
  };

  /** One read at a time, in order: a slow read never applies an older text over a newer one. */
  const readAndApply = (quiet: boolean): Promise<boolean> => {
    const run = queue.then(() => readOnce(quiet)).then(
      (changed) => {
        settled(changed ? 'applied' : 'unchanged');
        return changed;
      },
      (error: unknown) => {
        settled('failed');
        throw error;
      },
    );
    queue = run.catch(() => undefined);
    return run;
  };

  const fire = (): void => {
    clearTimeout(quietTimer);
    clearTimeout(maxTimer);
    quietTimer = maxTimer = undefined;
    if (started) readAndApply(true).catch(() => undefined);
    else missed = true;
  };

  const onEvent = (): void => {
    clearTimeout(quietTimer);
    quietTimer = setTimeout(fire, debounceMs);
    quietTimer.unref();
    if (maxTimer === undefined) {
      maxTimer = setTimeout(fire, maxWaitMs);
      maxTimer.unref();
    }
  };

  const close = (): void => {
    clearTimeout(quietTimer);
    clearTimeout(maxTimer);
    quietTimer = maxTimer = undefined;
    watcher?.close();
    watcher = undefined;
  };

  // Every event of the folder counts, whatever its file name (a `..data` swap names `..data`).
  watcher = watch(dirname(options.path), { persistent: false }, onEvent);
  watcher.on('error', (error) => {
    report(`watch ${error.message}`, new Error(`certpin: stopped following ${reportedPath}: ${error.message}`, { cause: error }));
    close();
  });
  const start = (inForce: PinFileContent | string, readNow = false): void => {
    applied = typeof inForce === 'string' ? { fingerprint: inForce } : contentOf(inForce);
    started = true;
    if (readNow || missed || quietTimer !== undefined) fire();
  };
  return { start, check: () => readAndApply(false), close };
}
