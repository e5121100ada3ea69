import { CertpinError } from '../errors.js';
import { certpinCommand } from '../lib/shell.js';
import { parsePin } from '../policy/pin.js';
import { parseHostPattern } from '../policy/hosts.js';
import { TRUSTED_STATUSES, type PinRecord, type PinStatus } from '../policy/config.js';
import type { InspectOptions } from '../probe/inspect.js';
import { findHostKey, pinOf, pinRecordAt, statusOf, newPinFileDocument, isMissingFile, readPinFile, updatePinFile, type PinFileDocument, type PinFileHost, type UpdateOptions } from './store.js';
import { mapConcurrent } from '../lib/concurrency.js';
import { defaultProbe, formatTarget, parseHostPort, pickAtLevel, probeHost, type ProbeFunction, type ProbeOutcome } from './targets.js';

/**
 * The outcome of approve, reject or add.
 *
 * @example
 * ```js
 * const result = await approvePin('pins.json', 'api.example.com', newPin)
 * console.log(`${result.pin}: ${result.previous} -> ${result.status}`, result.backupMissing ? '(add a backup pin)' : '')
 * ```
 */
export interface PinEditResult {
  /** The host entry's key in the file. */
  host: string;
  pin: string;
  /** The status before, or null when the pin was not listed. */
  previous: PinStatus | null;
  status: PinStatus;
  changed: boolean;
  /** Trusted (active or backup) pins of the host afterwards. */
  trustedPins: number;
  /** True when the host has no `backup` pin: one key loss away from locking its clients out. */
  backupMissing: boolean;
}



function indexOfPin(entry: PinFileHost, pin: string): number {
  return entry.pins.findIndex((value) => pinOf(value) === pin);
}

function summary(host: string, entry: PinFileHost, pin: string, previous: PinStatus | null, status: PinStatus): PinEditResult {
  return {
    host,
    pin,
    previous,
    status,
    changed: previous !== status,
    trustedPins: entry.pins.filter((p) => TRUSTED_STATUSES.has(statusOf(p))).length,
    backupMissing: !entry.pins.some((p) => statusOf(p) === 'backup'),
  };
}

function hostEntry(document: PinFileDocument, path: string, host: string): [string, PinFileHost] {
  const key = findHostKey(document, host);
  if (key === undefined) {
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `${host} is not in ${path}; add it first with \`${certpinCommand('init', host, '--config', path)}\``);
  }
  return [key, document.hosts[key]!];
}

function checkHostArgument(host: string): void {
  if (typeof host !== 'string') throw new TypeError('host must be a string');
  try {
    parseHostPattern(host);
  } catch (error) {
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', (error as Error).message);
  }
}

/**
 * Edits one pin of one entry under the pin file's lock: `host` and `pinText` are checked first, then
 * `edit` gets the entry's key as written, the entry, the pin and its index there (-1 when not listed).
 */
async function editPin(
  path: string,
  host: string,
  pinText: string,
  options: UpdateOptions,
  edit: (key: string, entry: PinFileHost, pin: string, index: number) => PinEditResult,
): Promise<PinEditResult> {
  checkHostArgument(host);
  const pin = parsePin(pinText);
  return updatePinFile(
    path,
    (document) => {
      const [key, entry] = hostEntry(document, path, host);
      return edit(key, entry, pin, indexOfPin(entry, pin));
    },
    options,
  );
}

async function setStatus(path: string, host: string, pinText: string, status: PinStatus, verb: string, options: UpdateOptions): Promise<PinEditResult> {
  return editPin(path, host, pinText, options, (key, entry, pin, index) => {
    if (index === -1) {
      throw new CertpinError(
        'ERR_CERTPIN_INVALID_INPUT',
        `${pin} is not listed for ${key} in ${path}, so there is nothing to ${verb}; to list it, use \`${certpinCommand('add', key, pin, '--status', 'active', '--config', path)}\` (or --status backup)`,
      );
    }
    const record = pinRecordAt(entry, index);
    const previous = record.status;
    record.status = status;
    return summary(key, entry, pin, previous, status);
  });
}

/**
 * Trusts a pin the file lists (typically one `rotate` recorded as `pending_review`): it becomes
 * `active`. Refuses a host that is not in the file, a pin it does not list and a malformed pin.
 *
 * @example
 * ```js
 * await approvePin('pins.json', 'api.example.com', 'sha256/…=')
 * ```
 */
export function approvePin(path: string, host: string, pin: string, options: UpdateOptions = {}): Promise<PinEditResult> {
  return setStatus(path, host, pin, 'active', 'approve', options);
}

/**
 * Marks a listed pin `rejected`: never trusted, and `rotate` reports it when a server shows it again.
 * Refuses a host that is not in the file, a pin it does not list and a malformed pin.
 *
 * @example
 * ```js
 * import { rejectPin } from 'certpin'
 * await rejectPin('pins.json', 'api.example.com', 'sha256/…=') // rotate then reports it if it is seen again
 * ```
 */
export function rejectPin(path: string, host: string, pin: string, options: UpdateOptions = {}): Promise<PinEditResult> {
  return setStatus(path, host, pin, 'rejected', 'reject', options);
}

/**
 * Options of {@link addPin}.
 *
 * @example
 * ```js
 * await addPin('pins.json', 'api.example.com', backupPin, { status: 'backup', note: 'offline key, safe 3' })
 * ```
 */
export interface AddPinOptions extends UpdateOptions {
  /** Required: `active` (in use now) or `backup` (a key kept offline for the next rotation). */
  status: 'active' | 'backup';
  /** Stored as the pin's `note`, e.g. where the backup key is kept. */
  note?: string;
}

/**
 * Adds a pin as `active` or `backup` to a host already in the file. Adding a pin already listed with
 * the same status changes nothing; with another status it is refused (approve or reject it instead).
 *
 * @example
 * ```js
 * await addPin('pins.json', 'api.example.com', 'sha256/…=', { status: 'backup', note: 'safe 3' })
 * ```
 */
export async function addPin(path: string, host: string, pinText: string, options: AddPinOptions): Promise<PinEditResult> {
  const status = options?.status;
  if (status !== 'active' && status !== 'backup') {
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `the status of an added pin must be "active" or "backup", got ${JSON.stringify(status)}`);
  }
  return editPin(path, host, pinText, options, (key, entry, pin, index) => {
    if (index !== -1) {
      const current = statusOf(entry.pins[index]!);
      if (current !== status) {
        const hint = current === 'pending_review' || current === 'expired' || current === 'rejected' ? 'use `certpin approve` or `certpin reject`' : 'edit the file to change it';
        throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `${pin} is already listed for ${key} as ${current}; ${hint}`);
      }
      return summary(key, entry, pin, current, status);
    }
    const record: PinRecord = { pin, status };
    if (options.note !== undefined) record.note = options.note;
    entry.pins.push(record);
    return summary(key, entry, pin, null, status);
  });
}

/**
 * Options of {@link initPins}.
 *
 * @example
 * ```js
 * await initPins('pins.json', ['api.example.com', 'auth.example.com:8443'], { inspect: { timeout: 5000, ca: corpRoot } })
 * ```
 */
export interface InitOptions extends UpdateOptions {
  /** Network options for the probe: `ca`, `resolve`, `servername`, `timeout`. */
  inspect?: InspectOptions;
  /** @default inspect */
  probe?: ProbeFunction;
  /** The time recorded as firstSeen/lastSeen. @default new Date() */
  now?: Date;
  /** Hosts probed at once. @default 8 */
  concurrency?: number;
}

/**
 * One target's outcome in {@link initPins}.
 *
 * @example
 * ```js
 * for (const r of (await initPins('pins.json', ['api.example.com'])).results) {
 *   console.log(r.host, r.action, r.pin ?? r.error, r.backupMissing ? '(no backup pin yet)' : '')
 * }
 * ```
 */
export interface InitHostResult {
  /** The target as given. */
  target: string;
  /** The host entry's key in the file. */
  host: string;
  port: number;
  /** `added`: the pin is now active; `unchanged`: it was already trusted; `error`: nothing recorded. */
  action: 'added' | 'unchanged' | 'error';
  pin: string | null;
  subject: string | null;
  /** The role of the recorded certificate in the verified chain. */
  role: string | null;
  error: string | null;
  backupMissing: boolean;
}

/**
 * The outcome of {@link initPins}, with the exit code `certpin init` uses.
 *
 * @example
 * ```js
 * const { results, exitCode } = await initPins('pins.json', ['api.example.com'])
 * process.exitCode = exitCode
 * ```
 */
export interface InitResult {
  results: InitHostResult[];
  /** 0 all recorded, 1 a chain was not trusted, 2 a host was unreachable. */
  exitCode: 0 | 1 | 2;
}

/**
 * Creates or extends host entries with the pin at `settings.pinLevel` of each host's verified chain,
 * as `active`, with subject, firstSeen and lastSeen. Creates the file when it does not exist. A port
 * other than 443 is stored as the entry's `port`. An untrusted or unreachable host records nothing.
 *
 * @example
 * ```js
 * const { results } = await initPins('pins.json', ['api.example.com'])
 * if (results[0].backupMissing) console.warn('add a backup pin: certpin keygen …')
 * ```
 */
export async function initPins(path: string, targets: readonly string[], options: InitOptions = {}): Promise<InitResult> {
  if (!Array.isArray(targets) || targets.length === 0) throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', 'init needs at least one HOST[:PORT]');
  const parsed = targets.map((target) => ({ target, ...parseHostPort(target) }));
  for (const { host } of parsed) checkHostArgument(host);
  let pinLevel: 'leaf' | 'intermediate' | 'root' = 'intermediate';
  try {
    pinLevel = (await readPinFile(path)).validated.pinLevel;
  } catch (error) {
    if (!isMissingFile(error)) throw error;
  }
  const probe = options.probe ?? defaultProbe;
  const outcomes: ProbeOutcome[] = await mapConcurrent(parsed, options.concurrency ?? 8, ({ host, port }) =>
    probeHost(probe, formatTarget(host, port), options.inspect ?? {}),
  );
  const now = (options.now ?? new Date()).toISOString();
  if (!outcomes.some((o) => o.kind === 'trusted')) {
    // Nothing to record: leave the file (or its absence) as it is.
    const results = parsed.map(({ target, host, port }, i): InitHostResult => {
      const outcome = outcomes[i]!;
      const message = outcome.kind === 'trusted' ? null : outcome.message;
      return { target, host, port, action: 'error', pin: null, subject: null, role: null, error: message, backupMissing: true };
    });
    return { results, exitCode: outcomes.some((o) => o.kind === 'unreachable') ? 2 : 1 };
  }
  const results = await updatePinFile(
    path,
    (document) =>
      parsed.map(({ target, host, port }, i): InitHostResult => {
        const outcome = outcomes[i]!;
        const base = { target, host, port, pin: null, subject: null, role: null, backupMissing: true };
        if (outcome.kind !== 'trusted') return { ...base, action: 'error', error: outcome.message };
        const chosen = pickAtLevel(outcome.result.chain, pinLevel)!;
        const found = { ...base, pin: chosen.pin, subject: chosen.subject, role: chosen.role };
        let key = findHostKey(document, host);
        if (key === undefined) {
          key = parseHostPattern(host).text;
          document.hosts[key] = port === 443 ? { pins: [] } : { port, pins: [] };
        }
        const entry = document.hosts[key]!;
        const result = { ...found, host: key };
        if ((entry.port ?? 443) !== port) {
          return { ...result, action: 'error', error: `${key} is listed with port ${entry.port ?? 443} in ${path}, not ${port}; change the entry's port first` };
        }
        const index = indexOfPin(entry, chosen.pin);
        let action: InitHostResult['action'] = 'added';
        let error: string | null = null;
        if (index === -1) {
          entry.pins.push({ pin: chosen.pin, status: 'active', subject: chosen.subject, firstSeen: now, lastSeen: now });
        } else {
          const record = pinRecordAt(entry, index);
          record.lastSeen = now;
          if (TRUSTED_STATUSES.has(record.status)) action = 'unchanged';
          else {
            action = 'error';
            error = `${chosen.pin} is listed for ${key} as ${record.status}; init does not overrule that: use \`${certpinCommand('approve', key, chosen.pin, '--config', path)}\` to trust it`;
          }
        }
        return { ...result, action, error, backupMissing: !entry.pins.some((p) => statusOf(p) === 'backup') };
      }),
    // A new file names its JSON Schema by the schema's $id, a URL that serves it, so editors (VS Code) complete and check it.
    { ...options, create: { $schema: 'https://unpkg.com/certpin/schema/pins.schema.json', ...newPinFileDocument() } },
  );
  const exitCode = outcomes.some((o) => o.kind === 'unreachable') ? 2 : results.some((r) => r.action === 'error') ? 1 : 0;
  return { results, exitCode };
}
