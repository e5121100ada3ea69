import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, lstat, open, type FileHandle, readdir, readFile, readlink, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname as machineName } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pinFileLockChannel } from '../channels.js';
import { CertpinError } from '../errors.js';
import { validateConfig, type HostConfig, type PinRecord, type PinStatus, type PolicyConfig, type ValidatedConfig } from '../policy/config.js';
import { parsePin } from '../policy/pin.js';
import { HostIndex, normalizeHostname, parseHostPattern } from '../policy/hosts.js';

/**
 * A pin file as read from disk: the parsed document (edit it in place) and its validated form.
 *
 * @example
 * ```js
 * const file = await readPinFile('pins.json')
 * console.log(file.path, Object.keys(file.document.hosts).length, 'hosts')
 * ```
 */
export interface PinFile {
  readonly path: string;
  /** The parsed JSON, with annotations (`note`, `x-…`) and key order as in the file. */
  readonly document: PinFileDocument;
  readonly validated: ValidatedConfig;
  /** The file's text as read. */
  readonly text: string;
}

/**
 * The pin file's JSON: the policy shape, plus per-host `probeHost` for wildcard entries.
 *
 * @example
 * ```js
 * await updatePinFile('pins.json', (document) => {
 *   document.hosts['api.example.com'].expires = '2027-06-30'
 * })
 * ```
 */
export interface PinFileDocument extends PolicyConfig {
  hosts: Record<string, PinFileHost>;
}

/**
 * A host entry of the pin file: {@link HostConfig} plus the fields only the CLI uses.
 *
 * @example
 * ```ts
 * import type { PinFileHost } from 'certpin'
 * const entry: PinFileHost = { pins: [caPin, { pin: backupPin, status: 'backup' }], probeHost: 'www.example.com' } // for "*.example.com"
 * ```
 */
export interface PinFileHost extends HostConfig {
  /** The concrete host `rotate` connects to for a wildcard entry (`*.example.com` → `www.example.com`). */
  probeHost?: string;
}

/**
 * How pin file writes wait for the lock that serialises them between processes.
 *
 * @example
 * ```js
 * await updatePinFile('pins.json', (doc) => { doc.settings = { ...doc.settings, unpinned: 'deny' } }, { lockTimeoutMs: 10_000 })
 * ```
 */
export interface UpdateOptions {
  /** Create the file (with `initial`) when it does not exist, instead of failing. */
  create?: PinFileDocument;
  /** A lock older than this is broken even when its holder still runs. @default 30000 */
  staleLockMs?: number;
  /** Give up waiting for the lock after this long. @default 60000 */
  lockTimeoutMs?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalidFile(path: string, message: string, cause?: unknown): CertpinError {
  return new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${path}: ${message}`, cause === undefined ? undefined : { cause });
}

/** Checks the fields only the pin file has, naming them as validateConfig names the others. */
function validatePinFileFields(document: Record<string, unknown>): void {
  if (!isObject(document.hosts)) return;
  for (const [key, entry] of Object.entries(document.hosts)) {
    if (!isObject(entry) || entry.probeHost === undefined) continue;
    const path = `hosts[${JSON.stringify(key)}].probeHost`;
    const value = entry.probeHost;
    let ok = false;
    if (typeof value === 'string') {
      try {
        ok = parseHostPattern(value).kind === 'exact';
      } catch {
        ok = false;
      }
    }
    if (!ok) throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${path}: expected a host name without wildcards, got ${JSON.stringify(value)}`);
    // A probe host outside the pattern would make rotate record another server's keys for it.
    const index = new HostIndex<true>();
    const pattern = parseHostPattern(key);
    index.add(pattern, true);
    if (entry.includeSubdomains === true) index.add({ text: `**.${pattern.base}`, kind: 'any-labels', base: pattern.base }, true);
    if (index.lookup(normalizeHostname(value as string)).length === 0) {
      throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${path}: ${JSON.stringify(value)} does not match ${key}; name a server the entry covers`);
    }
  }
}

/**
 * Parses and validates pin file text. Throws `ERR_CERTPIN_INVALID_CONFIG` naming the file and the
 * field at fault: `pins.json: hosts["api.example.com"].pins[2].pin: not a SHA-256 pin: "sha256/abc" (…)`.
 */
export function parsePinFile(path: string, text: string): PinFile {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    // JSON.parse may also run out of stack on absurdly deep input (a RangeError): the file is still unusable.
    const why = text.trim() === '' ? 'the file is empty' : error instanceof RangeError ? 'nested too deeply to be a pin file' : `not valid JSON (${(error as Error).message})`;
    throw invalidFile(path, `${why}; fix or restore it: certpin never overwrites a file it cannot read`, error);
  }
  if (!isObject(document)) throw invalidFile(path, 'expected a JSON object with "version", "settings" and "hosts"');
  let validated: ValidatedConfig;
  try {
    validated = validateConfig(document, { source: 'file' });
    validatePinFileFields(document);
  } catch (error) {
    throw invalidFile(path, (error as Error).message, error);
  }
  return { path, document: document as unknown as PinFileDocument, validated, text };
}

const READ_ERRORS: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'it is a directory', EACCES: 'permission denied' };

/**
 * Reads and validates a pin file. Throws `ERR_CERTPIN_INVALID_CONFIG` naming the file and the field at
 * fault; a file that cannot be read is `ERR_CERTPIN_INVALID_INPUT` saying which file and why.
 *
 * @example
 * ```js
 * import { readPinFile } from 'certpin'
 * const { document, validated } = await readPinFile('pins.json')
 * console.log(Object.keys(document.hosts), validated.unpinned)
 * ```
 */
export async function readPinFile(path: string): Promise<PinFile> {
  return parsePinFile(path, await readPinFileText(path));
}

/**
 * The text of a pin file, or `ERR_CERTPIN_INVALID_INPUT` saying which file cannot be read and why
 * (`no such file`, `it is a directory`, `permission denied`), Node's error as its `cause`: one error
 * shape for a missing pin file, whoever reads it.
 */
export async function readPinFileText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const why = READ_ERRORS[code] ?? (error as Error).message;
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `cannot read ${path}: ${why}`, { cause: error });
  }
}

/** True for the error {@link readPinFileText} throws when the file does not exist. */
export function isMissingFile(error: unknown): boolean {
  return (error as { cause?: { code?: unknown } } | undefined)?.cause?.code === 'ENOENT';
}

/** Serialises like the file was written: its own indentation (2 spaces for a new file), trailing newline. */
export function serializePinFile(document: unknown, previousText?: string): string {
  const indent = previousText === undefined ? '  ' : (/^[{[][ \t]*\r?\n([ \t]+)\S/.exec(previousText)?.[1] ?? '  ');
  return `${JSON.stringify(document, null, indent)}\n`;
}

async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some platforms and filesystems cannot fsync a directory; the rename is still atomic there.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'ENOTSUP') throw error;
  } finally {
    await handle?.close();
  }
}

const tempPrefix = (path: string): string => `.${basename(path)}.`;

/**
 * The file a pin file path stands for: a symlinked `pins.json` is written through to its target
 * (docs/policy.md), or the rename would replace the link with a regular file and the target would never
 * change again. A dangling link names the file to create. Loops give up after 40 links, as the
 * kernel does (ELOOP).
 */
export async function resolvePinFilePath(path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    let info;
    try {
      info = await lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return current;
      throw error;
    }
    if (!info.isSymbolicLink()) return current;
    current = resolve(dirname(current), await readlink(current));
  }
  throw Object.assign(new Error(`cannot write ${path}: too many levels of symbolic links`), { code: 'ELOOP' });
}

/**
 * Replaces `path` with `text` so that a reader sees the old file or the new one, never a mix, and a
 * crash at any point leaves one of them: temporary file in the same folder (rename is atomic only
 * within a filesystem), fsync it, rename over the target, fsync the folder so the rename survives a
 * power cut. A symlink is written through to its target. The file keeps its mode, owner and group
 * (docs/policy.md): a new file is owned by whoever creates it, so a pin file owned by a service account and
 * rewritten by root would otherwise become root's and unreadable to the service.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const target = await resolvePinFilePath(path);
  const dir = dirname(target);
  const temp = join(dir, `${tempPrefix(target)}${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  let previous: { mode: number; uid: number; gid: number } | undefined;
  try {
    const info = await stat(target);
    previous = { mode: info.mode & 0o7777, uid: info.uid, gid: info.gid };
  } catch {
    // a new file
  }
  const mode = previous?.mode ?? 0o644;
  const handle = await open(temp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, mode);
  try {
    try {
      // open's mode is narrowed by the umask; the old file's mode is what must survive.
      if (previous !== undefined) await handle.chmod(mode);
      if (previous !== undefined) await keepOwner(handle, previous);
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dir);
}

/**
 * Gives the new file the old one's owner and group. Only root may give a file away; another user
 * may still keep a group it belongs to. What cannot be kept is left as created: the write itself
 * matters more than the owner.
 */
async function keepOwner(handle: FileHandle, previous: { uid: number; gid: number }): Promise<void> {
  const created = await handle.stat();
  if (created.uid === previous.uid && created.gid === previous.gid) return;
  try {
    await handle.chown(previous.uid, previous.gid);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EINVAL') throw error;
    if (created.gid !== previous.gid) await handle.chown(-1, previous.gid).catch(() => undefined);
  }
}

interface LockInfo {
  pid: number;
  host: string;
  createdAt: number;
  token: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (isObject(value) && typeof value.pid === 'number' && typeof value.createdAt === 'number' && typeof value.token === 'string') {
      return { pid: value.pid, host: typeof value.host === 'string' ? value.host : '', createdAt: value.createdAt, token: value.token };
    }
  } catch {
    // a lock cut short by a crash between create and write
  }
  return undefined;
}

/**
 * Moves a stale lock aside and deletes it. Renaming first means two processes breaking the same lock
 * cannot both succeed, and one that finds a different lock than the stale one it judged (taken after
 * another process broke it) puts it back instead of deleting it.
 */
async function breakLock(lockPath: string, judged: string): Promise<void> {
  const aside = `${lockPath}.${process.pid}.${randomUUID().slice(0, 8)}.stale`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  const found = await readFile(aside, 'utf8').catch(() => undefined);
  if (found !== judged) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

/** Judges a lock file that exists: stale when its holder died on this machine, or when it is too old. */
async function isStale(lockPath: string, staleMs: number): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch {
    return undefined;
  }
  const info = parseLock(text);
  // A lock that is empty or unreadable: certpin creates locks whole (createLock), so its writer is not
  // still writing it; it crashed, or the disk filled up under an older version.
  if (info === undefined) return text;
  // The holder's clock against ours, never a file's mtime (the kernel's clock), which can differ from
  // the process's (faketime, a container's time namespace).
  if (Date.now() - info.createdAt > staleMs) return text;
  if (info.host === machineName() && info.pid !== process.pid && !isAlive(info.pid)) return text;
  return undefined;
}

/**
 * Creates `lockPath` holding `text`, or returns false if it exists. Its content goes to a temporary
 * file first, then hard-linked to the lock name (link fails with EEXIST when the lock exists,
 * atomically, as O_EXCL does): a lock never exists empty or half-written. A file system without hard
 * links gets exclusive create, then write, and a failed write removes the lock it created.
 */
async function createLock(path: string, lockPath: string, text: string): Promise<boolean> {
  const temp = join(dirname(path), `${tempPrefix(path)}${process.pid}.${randomUUID().slice(0, 8)}.lock.tmp`);
  try {
    await writeFile(temp, text, { encoding: 'utf8', mode: 0o644, flag: 'wx' });
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw Object.assign(new Error(`cannot write ${path}: the folder ${dirname(path)} does not exist`, { cause: error }), { code: 'ENOENT' });
  }
  try {
    try {
      await link(temp, lockPath);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EXDEV') throw error;
    }
    const handle = await open(lockPath, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o644).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return undefined;
      throw error;
    });
    if (handle === undefined) return false;
    try {
      await handle.writeFile(text, 'utf8');
    } catch (error) {
      await handle.close();
      await unlink(lockPath).catch(() => undefined);
      throw error;
    }
    await handle.close();
    return true;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}


/**
 * Takes `PATH.lock` (created whole, holding pid, host, time and a token), breaking a stale one.
 * Returns the release function, which deletes the lock only if it is still ours.
 */
export async function acquireLock(path: string, options: UpdateOptions = {}): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  const staleMs = options.staleLockMs ?? 30_000;
  const deadline = Date.now() + (options.lockTimeoutMs ?? 60_000);
  const info: LockInfo = { pid: process.pid, host: machineName(), createdAt: Date.now(), token: randomUUID() };
  for (let attempt = 0; ; attempt++) {
    info.createdAt = Date.now();
    const text = `${JSON.stringify(info)}\n`;
    if (await createLock(path, lockPath, text)) {
      if (pinFileLockChannel.hasSubscribers) pinFileLockChannel.publish({ path, event: 'acquired' });
      return async () => {
        const current = await readFile(lockPath, 'utf8').catch(() => undefined);
        if (current === text) await unlink(lockPath).catch(() => undefined);
      };
    }
    const stale = await isStale(lockPath, staleMs);
    if (stale !== undefined) {
      await breakLock(lockPath, stale);
      if (pinFileLockChannel.hasSubscribers) pinFileLockChannel.publish({ path, event: 'broken' });
      continue;
    }
    if (Date.now() > deadline) {
      const message = `${path}: another process holds ${lockPath} (its pid is inside); try again, or delete the lock if that process is gone`;
      throw new CertpinError('ERR_CERTPIN_LOCKED', message);
    }
    if (pinFileLockChannel.hasSubscribers) pinFileLockChannel.publish({ path, event: 'waiting' });
    await sleep(Math.min(5 + attempt * 5, 50) + Math.random() * 10);
  }
}

/** Deletes temporary files that writers killed between write and rename left behind. */
async function removeOrphanTemps(path: string): Promise<void> {
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    // the pin file's temporary files, and the lock's (see createLock)
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const start = prefix.length;
    const pid = Number(name.slice(start).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isAlive(pid)) {
      await unlink(join(dirname(path), name)).catch(() => undefined);
    }
  }
}

/**
 * Read-modify-write of a pin file, serialised between processes: takes the lock, re-reads and
 * validates the file inside it (so no concurrent update is lost), lets `edit` change the parsed
 * document in place (annotations and key order survive), validates the result and writes it
 * atomically if it changed. A file that cannot be read or is invalid is reported and never written.
 * Returns what `edit` returns.
 *
 * @example
 * ```js
 * await updatePinFile('pins.json', (doc) => { doc.hosts['api.example.com'].enforce = false })
 * ```
 */
export async function updatePinFile<R>(path: string, edit: (document: PinFileDocument, file: PinFile | undefined) => R | Promise<R>, options: UpdateOptions = {}): Promise<R> {
  // Writers through a symlink and writers of its target take the same lock.
  const target = await resolvePinFilePath(path);
  const release = await acquireLock(target, options);
  try {
    await removeOrphanTemps(target);
    let file: PinFile | undefined;
    let document: PinFileDocument;
    try {
      file = await readPinFile(path);
      document = file.document;
    } catch (error) {
      if (!isMissingFile(error) || options.create === undefined) throw error;
      document = structuredClone(options.create);
    }
    const result = await edit(document, file);
    const text = serializePinFile(document, file?.text);
    if (text !== file?.text) {
      parsePinFile(path, text);
      await writeFileAtomic(path, text);
    }
    return result;
  } finally {
    await release();
  }
}

/**
 * The key of the host entry of a pin file that `host` names: the key itself, or the key that is the
 * same pattern once normalised (`API.Example.com.` names `api.example.com`, `*.EXAMPLE.com` names
 * `*.example.com`). The entry {@link approvePin}, {@link rejectPin} and {@link addPin} edit for `host`.
 * A host the entry only covers (`www.example.com` under `*.example.com`) is not its key.
 *
 * @param document - The pin file's JSON, e.g. `(await readPinFile(path)).document`.
 * @param host - A host name or pattern, as a person types it.
 * @returns The key as written in the file, or undefined when no entry has that pattern.
 * @throws Never: a `host` that is no valid pattern has no entry.
 * @example
 * ```js
 * import { findHostKey, readPinFile } from 'certpin'
 * const { document } = await readPinFile('pins.json')
 * const key = findHostKey(document, 'API.example.com')
 * if (key === undefined) console.error('not in pins.json')
 * else console.log(document.hosts[key].pins)
 * ```
 */
export function findHostKey(document: PinFileDocument, host: string): string | undefined {
  if (Object.hasOwn(document.hosts, host)) return host;
  let wanted: string;
  try {
    wanted = parseHostPattern(host).text;
  } catch {
    return undefined;
  }
  return Object.keys(document.hosts).find((key) => {
    try {
      return parseHostPattern(key).text === wanted;
    } catch {
      return false;
    }
  });
}

/** A new pin file: version 1 and the default settings written out, so they can be seen and changed. */
export function newPinFileDocument(): PinFileDocument {
  return { version: 1, settings: { unpinned: 'allow', pinLevel: 'intermediate', expireUnseenAfterDays: 90 }, hosts: {} };
}

/**
 * The status of one element of a host entry's `pins`: a bare string, or a record without `status`,
 * is `active` (the pin file format, schema/pins.schema.json).
 *
 * @param value - An element of `document.hosts[key].pins`.
 * @returns `active`, `backup`, `pending_review`, `rejected` or `expired`.
 * @throws Never.
 * @example
 * ```js
 * import { statusOf } from 'certpin'
 * const backups = document.hosts['api.example.com'].pins.filter((p) => statusOf(p) === 'backup')
 * ```
 */
export function statusOf(value: string | PinRecord): PinStatus {
  return typeof value === 'string' ? 'active' : value.status ?? 'active';
}

/**
 * The pin of one element of a host entry's `pins` (a bare string or a record), as `sha256/B64`
 * whichever of the three spellings the file uses ({@link parsePin}).
 *
 * @param value - An element of `document.hosts[key].pins`.
 * @returns The pin as `sha256/B64`.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_PIN` when the element holds no SHA-256 pin (a
 *   document that {@link readPinFile} returned has none such).
 * @example
 * ```js
 * import { pinOf } from 'certpin'
 * const listed = document.hosts['api.example.com'].pins.some((p) => pinOf(p) === pinOf(candidate))
 * ```
 */
export function pinOf(value: string | PinRecord): string {
  return parsePin(typeof value === 'string' ? value : value.pin);
}

/** The pin entry at `index` as an object, converting a bare string in place so it can carry a status. */
export function pinRecordAt(entry: PinFileHost, index: number): PinRecord {
  const value = entry.pins[index]!;
  if (typeof value !== 'string') return value;
  const record: PinRecord = { pin: parsePin(value), status: 'active' };
  entry.pins[index] = record;
  return record;
}
