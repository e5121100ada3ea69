import { CertpinError } from '../errors.js';
import { certpinCommand } from '../lib/shell.js';
import { TRUSTED_STATUSES } from '../policy/config.js';
import type { InspectOptions } from '../probe/inspect.js';
import { findHostKey, pinOf, pinRecordAt, statusOf, readPinFile, updatePinFile, type PinFileHost, type UpdateOptions } from './store.js';
import { mapConcurrent } from '../lib/concurrency.js';
import { defaultProbe, pickAtLevel, probeHost, probeTargets, type ProbeFunction, type ProbeOutcome } from './targets.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * What {@link rotatePins} did for a host.
 *
 * @example
 * ```js
 * const { results } = await rotatePins('pins.json')
 * const needsHuman = results.filter((r) => r.action === 'new_pin_detected' || r.action === 'rejected_pin_seen')
 * ```
 */
export type RotateAction = 'no_change' | 'new_pin_detected' | 'rejected_pin_seen' | 'error';

/**
 * Options of {@link rotatePins}.
 *
 * @example
 * ```js
 * await rotatePins('pins.json', { hosts: ['api.example.com'], expireAfterDays: 60, inspect: { timeout: 5000 } })
 * ```
 */
export interface RotateOptions extends UpdateOptions {
  /** Only these host entries (as written in the file, or any spelling of the same pattern). @default all */
  hosts?: readonly string[];
  /** Overrides `settings.expireUnseenAfterDays`. */
  expireAfterDays?: number;
  /** The time of this run. @default new Date() */
  now?: Date;
  /** @default inspect */
  probe?: ProbeFunction;
  /** Network options for the probe: `ca`, `resolve`, `servername`, `timeout`. */
  inspect?: InspectOptions;
  /** Hosts probed at once. @default 8 */
  concurrency?: number;
}

/**
 * One host's outcome in a rotation run.
 *
 * @example
 * ```js
 * for (const r of (await rotatePins('pins.json')).results) console.log(r.host, r.action, r.pin, r.message)
 * ```
 */
export interface RotateHostResult {
  /** The host entry's key in the file. */
  host: string;
  action: RotateAction;
  /** no_change: the trusted pin seen; new_pin_detected: the pin pending review; rejected_pin_seen: that pin; error: null. */
  pin: string | null;
  /** What happened, for people. */
  message: string;
  /** What was connected to. */
  target: string;
}

/**
 * The outcome of a rotation run, with the exit code `certpin rotate` uses.
 *
 * @example
 * ```js
 * const { results, expired, skipped, exitCode } = await rotatePins('pins.json')
 * for (const { host, pin } of expired) console.log(`expired ${pin} of ${host}`)
 * process.exitCode = exitCode
 * ```
 */
export interface RotateResult {
  results: RotateHostResult[];
  /** Active pins unseen for too long, now `expired`. */
  expired: Array<{ host: string; pin: string }>;
  /** Wildcard entries without a `probeHost`: there is no one server to look at. */
  skipped: Array<{ host: string; reason: string }>;
  /** 0 nothing to do, 1 a human is needed (new or rejected pin, untrusted chain), 2 a host was unreachable. */
  exitCode: 0 | 1 | 2;
}



interface Planned {
  key: string;
  target: string;
}

function applyProbe(entry: PinFileHost, key: string, target: string, outcome: ProbeOutcome, pinLevel: 'leaf' | 'intermediate' | 'root', now: Date, path: string): RotateHostResult {
  const stamp = now.toISOString();
  entry.lastChecked = stamp;
  if (outcome.kind !== 'trusted') return { host: key, action: 'error', pin: null, message: outcome.message, target };
  const chain = outcome.result.chain;
  const inChain = new Set(chain.map((c) => c.pin));
  const subjectOf = (pin: string): string => chain.find((c) => c.pin === pin)?.subject ?? '';
  let revived: string | null = null;
  let rejected: string | null = null;
  let trusted: string | null = null;
  entry.pins.forEach((value, i) => {
    const pin = pinOf(value);
    if (!inChain.has(pin)) return;
    const record = pinRecordAt(entry, i);
    record.lastSeen = stamp;
    // An expired pin back in the chain is not trusted again silently: a human decides (docs/cli.md).
    if (record.status === 'expired') {
      record.status = 'pending_review';
      revived ??= pin;
    }
    if (record.status === 'rejected') rejected ??= pin;
    if (TRUSTED_STATUSES.has(record.status)) trusted ??= pin;
  });
  let pending: string | null = revived;
  if (trusted === null) {
    const chosen = pickAtLevel(chain, pinLevel)!;
    const index = entry.pins.findIndex((value) => pinOf(value) === chosen.pin);
    if (index === -1) {
      entry.pins.push({ pin: chosen.pin, status: 'pending_review', subject: chosen.subject, firstSeen: stamp, lastSeen: stamp });
      pending = chosen.pin;
    } else if (statusOf(entry.pins[index]!) === 'pending_review') {
      pending = chosen.pin;
    }
  }
  if (rejected !== null) {
    return { host: key, action: 'rejected_pin_seen', pin: rejected, target, message: `the server shows ${rejected} (${subjectOf(rejected)}), a pin marked rejected` };
  }
  if (pending !== null) {
    const why = pending === revived ? 'seen again after it expired' : trusted === null ? 'no trusted pin in the chain' : 'new pin';
    return {
      host: key,
      action: 'new_pin_detected',
      pin: pending,
      target,
      message: `${why}: ${pending} (${subjectOf(pending)}) is pending review; check it, then \`${certpinCommand('approve', key, pending, '--config', path)}\` or \`${certpinCommand('reject', key, pending, '--config', path)}\``,
    };
  }
  return { host: key, action: 'no_change', pin: trusted, target, message: `pinned by ${trusted} (${subjectOf(trusted ?? '')})` };
}

function expireUnseen(entry: PinFileHost, key: string, inChain: ReadonlySet<string>, now: Date, days: number): Array<{ host: string; pin: string }> {
  const expired: Array<{ host: string; pin: string }> = [];
  entry.pins.forEach((value) => {
    // Only active pins with a lastSeen can expire: a backup is by design never seen, and a pin never
    // seen has no date to count from.
    if (typeof value === 'string' || value.status !== 'active' || typeof value.lastSeen !== 'string') return;
    const seen = Date.parse(value.lastSeen);
    if (Number.isNaN(seen) || inChain.has(value.pin) || now.getTime() - seen < days * DAY_MS) return;
    value.status = 'expired';
    expired.push({ host: key, pin: value.pin });
  });
  return expired;
}

/**
 * The rotation job (docs/runbook.md, docs/cli.md): connects to each host with full validation, updates `lastSeen` of the
 * known pins in its verified chain, records the pin at `pinLevel` as `pending_review` when no trusted
 * pin is in the chain (never trusted until approved), reports a rejected pin seen again, brings an
 * expired pin seen again back as `pending_review`, expires `active` pins unseen for
 * `expireUnseenAfterDays`, and sets `lastChecked`. Hosts are probed outside the lock; the results are
 * applied to a fresh read of the file under it, so concurrent edits are kept.
 *
 * Pins only expire for hosts whose chain was seen and trusted in this run: an outage must not end
 * trust in the keys a host is still using.
 *
 * @example
 * ```js
 * const { results, expired, exitCode } = await rotatePins('pins.json', { inspect: { timeout: 5000 } })
 * for (const r of results) if (r.action !== 'no_change') console.log(r.host, r.action, r.pin)
 * ```
 */
export async function rotatePins(path: string, options: RotateOptions = {}): Promise<RotateResult> {
  const now = options.now ?? new Date();
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('now must be a valid Date');
  if (options.expireAfterDays !== undefined && !(typeof options.expireAfterDays === 'number' && options.expireAfterDays > 0)) {
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `expire-after must be a positive number of days, got ${JSON.stringify(options.expireAfterDays)}`);
  }
  const file = await readPinFile(path);
  const keys = options.hosts === undefined || options.hosts.length === 0
    ? Object.keys(file.document.hosts)
    : options.hosts.map((host) => {
      const key = findHostKey(file.document, host);
      if (key === undefined) throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `${host} is not in ${path}; add it with \`${certpinCommand('init', host, '--config', path)}\``);
      return key;
    });
  const planned: Planned[] = [];
  const skipped: RotateResult['skipped'] = [];
  const wanted = new Set(keys);
  for (const { entry: key, target, reason } of probeTargets(file.document)) {
    if (!wanted.has(key)) continue;
    if (target === null) skipped.push({ host: key, reason: reason ?? `${key} cannot be probed` });
    else planned.push({ key, target });
  }
  const probe = options.probe ?? defaultProbe;
  const outcomes = await mapConcurrent(planned, options.concurrency ?? 8, ({ target }) => probeHost(probe, target, options.inspect ?? {}));

  const { results, expired } = await updatePinFile(
    path,
    (document, current) => {
      const settings = current!.validated;
      const days = options.expireAfterDays ?? settings.expireUnseenAfterDays;
      const results: RotateHostResult[] = [];
      const expired: RotateResult['expired'] = [];
      planned.forEach(({ key, target }, i) => {
        const outcome = outcomes[i]!;
        const entry = document.hosts[key];
        if (entry === undefined) {
          results.push({ host: key, action: 'error', pin: null, target, message: `${key} was removed from ${path} while it was being checked` });
          return;
        }
        results.push(applyProbe(entry, key, target, outcome, settings.pinLevel, now, path));
        if (outcome.kind === 'trusted') expired.push(...expireUnseen(entry, key, new Set(outcome.result.chain.map((c) => c.pin)), now, days));
      });
      return { results, expired };
    },
    options,
  );
  const exitCode = outcomes.some((o) => o.kind === 'unreachable') ? 2 : results.some((r) => r.action !== 'no_change') ? 1 : 0;
  return { results, expired, skipped, exitCode };
}
