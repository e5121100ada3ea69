import { CertpinError } from './errors.js';
import { parseHostPattern, normalizeHostname, HostIndex, type HostPattern } from './hosts.js';
import { parsePin } from './pin.js';

export const PIN_STATUSES = ['active', 'backup', 'pending_review', 'rejected', 'expired'] as const;
/**
 * A pin's status: only `active` and `backup` are trusted; `pending_review` waits for `approve`.
 *
 * @example
 * ```ts
 * import type { PinStatus } from 'certpin'
 * const trusted = (status: PinStatus): boolean => status === 'active' || status === 'backup'
 * ```
 */
export type PinStatus = (typeof PIN_STATUSES)[number];
/** Only these statuses are trusted (SPEC 4, 8). */
export const TRUSTED_STATUSES: ReadonlySet<PinStatus> = new Set<PinStatus>(['active', 'backup']);

/**
 * A pin with its status and the facts `init` and `rotate` record (`subject`, `firstSeen`, `lastSeen`); other fields are kept.
 *
 * @example
 * ```ts
 * import type { PinRecord } from 'certpin'
 * const backup: PinRecord = { pin: 'sha256/…=', status: 'backup', note: 'offline key, safe 3' }
 * ```
 */
export interface PinRecord {
  pin: string;
  status: PinStatus;
  subject?: string;
  firstSeen?: string;
  lastSeen?: string;
  note?: string;
  [field: string]: unknown;
}

/**
 * One host pattern's entry: its pins and how they are enforced.
 *
 * @example
 * ```ts
 * import type { HostConfig } from 'certpin'
 * const entry: HostConfig = {
 *   pins: ['sha256/…current…=', { pin: 'sha256/…backup…=', status: 'backup', note: 'safe 3' }],
 *   enforce: false,                                  // report-only while rolling out
 *   expires: '2027-06-30',                           // after it: not enforced, every connection reported
 *   reportUri: 'https://reports.example.net/pins',
 * }
 * ```
 */
export interface HostConfig {
  /** A bare string means an `active` pin. */
  pins: Array<string | PinRecord>;
  /** `false` = report-only. @default true */
  enforce?: boolean;
  /** ISO date or date-time; a bare date means the end of that day, UTC. After it, pins are not enforced and every connection is reported as unpinned. */
  expires?: string;
  reportUri?: string;
  /** Same as also listing `**.host`. @default false */
  includeSubdomains?: boolean;
  port?: number;
  lastChecked?: string;
  [field: string]: unknown;
}

/**
 * The pin file's `settings`, shared by the library and the CLI.
 *
 * @example
 * ```ts
 * import type { PolicySettings } from 'certpin'
 * const settings: PolicySettings = { unpinned: 'deny', pinLevel: 'intermediate', expireUnseenAfterDays: 90 }
 * ```
 */
export interface PolicySettings {
  /** Hosts without pins: `allow` (standard validation only) or `deny`. @default 'allow' */
  unpinned?: 'allow' | 'deny';
  /** Which certificate of the verified chain `init` and `rotate` record. @default 'intermediate' */
  pinLevel?: 'leaf' | 'intermediate' | 'root';
  /** @default 90 */
  expireUnseenAfterDays?: number;
  [field: string]: unknown;
}

/**
 * A trust store as node:tls takes it: PEM text, DER or PEM bytes, or an array of them.
 *
 * @example
 * ```js
 * import { readFileSync } from 'node:fs'
 * import { createPolicy } from 'certpin'
 * // trust only the company's root (like curl --cacert), then pin on top of it
 * const policy = createPolicy({ ca: readFileSync('corp-root.pem'), hosts: { 'api.internal': { pins: [caPin, backupPin] } } })
 * ```
 */
export type CaInput = string | Uint8Array | ReadonlyArray<string | Uint8Array>;

/**
 * The `settings` + `hosts` shape of the pin file, plus a trust store.
 *
 * @example
 * ```ts
 * import { createPolicy, type PolicyConfig } from 'certpin'
 * const config: PolicyConfig = {
 *   settings: { unpinned: 'allow' },
 *   hosts: {
 *     'api.example.com': { pins: [currentPin, { pin: backupPin, status: 'backup' }], expires: '2027-06-30' },
 *     '**.internal.example.com': { pins: [corpCaPin, backupPin] },
 *   },
 * }
 * const policy = createPolicy(config)
 * ```
 */
export interface PolicyConfig {
  version?: number;
  settings?: PolicySettings;
  hosts: Record<string, HostConfig>;
  /** When given, replaces the default roots (like curl's `--cacert`): the "trust only this CA" mode. */
  ca?: CaInput;
  [field: string]: unknown;
}

/**
 * A host entry after validation.
 *
 * @example
 * ```js
 * for (const rule of policy.rules) console.log(rule.key, rule.trustedPins.length, rule.enforce)
 * ```
 */
export interface HostRule {
  readonly key: string;
  readonly pattern: HostPattern;
  readonly pins: readonly PinRecord[];
  readonly trustedPins: readonly string[];
  readonly enforce: boolean;
  /** Epoch milliseconds after which the pins are no longer enforced. */
  readonly expiresAt: number | undefined;
  readonly reportUri: string | undefined;
  readonly includeSubdomains: boolean;
  readonly port: number | undefined;
}

export interface ValidatedConfig {
  readonly unpinned: 'allow' | 'deny';
  readonly pinLevel: 'leaf' | 'intermediate' | 'root';
  readonly expireUnseenAfterDays: number;
  readonly rules: readonly HostRule[];
  readonly index: HostIndex<HostRule>;
}

function invalid(path: string, message: string): CertpinError {
  return new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${path}: ${message}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `2027-06-30` means the end of that day, UTC (SPEC 9); a date-time is taken as written. */
export function parseExpiry(value: string): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00.000Z`);
    return Number.isNaN(start) ? undefined : start + 24 * 60 * 60 * 1000 - 1;
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}

function validatePin(entry: unknown, path: string): PinRecord {
  if (typeof entry === 'string') {
    return { pin: pinAt(entry, path), status: 'active' };
  }
  if (!isObject(entry)) throw invalid(path, `expected a pin string or an object with pin and status, got ${JSON.stringify(entry)}`);
  const pin = pinAt(entry.pin, `${path}.pin`);
  const status = entry.status ?? 'active';
  if (typeof status !== 'string' || !(PIN_STATUSES as readonly string[]).includes(status)) {
    throw invalid(`${path}.status`, `must be one of ${PIN_STATUSES.join(', ')}, got ${JSON.stringify(entry.status)}`);
  }
  return { ...entry, pin, status: status as PinStatus };
}

function pinAt(value: unknown, path: string): string {
  if (typeof value !== 'string') throw invalid(path, `expected a pin string, got ${JSON.stringify(value)}`);
  try {
    return parsePin(value);
  } catch (error) {
    throw invalid(path, (error as Error).message);
  }
}

function validateHost(key: string, value: unknown): HostRule {
  const path = `hosts[${JSON.stringify(key)}]`;
  let pattern: HostPattern;
  try {
    pattern = parseHostPattern(key);
  } catch (error) {
    throw invalid(path, (error as Error).message);
  }
  if (!isObject(value)) throw invalid(path, 'expected an object with a pins array');
  if (!Array.isArray(value.pins)) throw invalid(`${path}.pins`, `expected an array of pins, got ${JSON.stringify(value.pins)}`);
  const pins = value.pins.map((entry, i) => validatePin(entry, `${path}.pins[${i}]`));
  const seen = new Set<string>();
  for (const [i, record] of pins.entries()) {
    if (seen.has(record.pin)) throw invalid(`${path}.pins[${i}].pin`, `${record.pin} is listed twice`);
    seen.add(record.pin);
  }
  if (value.enforce !== undefined && typeof value.enforce !== 'boolean') throw invalid(`${path}.enforce`, `expected true or false, got ${JSON.stringify(value.enforce)}`);
  if (value.includeSubdomains !== undefined && typeof value.includeSubdomains !== 'boolean') {
    throw invalid(`${path}.includeSubdomains`, `expected true or false, got ${JSON.stringify(value.includeSubdomains)}`);
  }
  let expiresAt: number | undefined;
  if (value.expires !== undefined) {
    expiresAt = typeof value.expires === 'string' ? parseExpiry(value.expires) : undefined;
    if (expiresAt === undefined) throw invalid(`${path}.expires`, `expected an ISO date such as "2027-06-30", got ${JSON.stringify(value.expires)}`);
  }
  if (value.port !== undefined && (!Number.isInteger(value.port) || (value.port as number) < 1 || (value.port as number) > 65535)) {
    throw invalid(`${path}.port`, `expected a port number 1-65535, got ${JSON.stringify(value.port)}`);
  }
  let reportUri: string | undefined;
  if (value.reportUri !== undefined) {
    let url: URL;
    try {
      if (typeof value.reportUri !== 'string') throw new Error('not a string');
      url = new URL(value.reportUri);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw invalid(`${path}.reportUri`, `expected an http(s) URL, got ${JSON.stringify(value.reportUri)}`);
    }
    const reportHost = normalizeHostname(url.hostname);
    const probe = new HostIndex<true>();
    probe.add(pattern, true);
    if (value.includeSubdomains === true) probe.add({ text: `**.${pattern.base}`, kind: 'any-labels', base: pattern.base }, true);
    if (probe.lookup(reportHost).length > 0) {
      throw invalid(`${path}.reportUri`, `${value.reportUri} is under ${key} itself: a report about a failing pin could never arrive there; use a host outside this entry`);
    }
    reportUri = url.href;
  }
  return {
    key,
    pattern,
    pins,
    trustedPins: pins.filter((p) => TRUSTED_STATUSES.has(p.status)).map((p) => p.pin),
    enforce: value.enforce ?? true,
    expiresAt,
    reportUri,
    includeSubdomains: value.includeSubdomains ?? false,
    port: value.port as number | undefined,
  };
}

/**
 * Validates a policy configuration (the pin file's shape), naming the field and value at fault in
 * `ERR_CERTPIN_INVALID_CONFIG` errors, e.g.
 * `hosts["api.example.com"].pins[2].pin: not a SHA-256 pin: "sha256/abc" (…)`.
 */
export function validateConfig(config: unknown): ValidatedConfig {
  if (!isObject(config)) throw invalid('config', 'expected an object with a hosts object');
  if (config.version !== undefined && config.version !== 1) throw invalid('version', `only version 1 is known, got ${JSON.stringify(config.version)}`);
  const settings = config.settings ?? {};
  if (!isObject(settings)) throw invalid('settings', 'expected an object');
  const unpinned = settings.unpinned ?? 'allow';
  if (unpinned !== 'allow' && unpinned !== 'deny') throw invalid('settings.unpinned', `expected "allow" or "deny", got ${JSON.stringify(unpinned)}`);
  const pinLevel = settings.pinLevel ?? 'intermediate';
  if (pinLevel !== 'leaf' && pinLevel !== 'intermediate' && pinLevel !== 'root') {
    throw invalid('settings.pinLevel', `expected "leaf", "intermediate" or "root", got ${JSON.stringify(pinLevel)}`);
  }
  const expireUnseenAfterDays = settings.expireUnseenAfterDays ?? 90;
  if (typeof expireUnseenAfterDays !== 'number' || !(expireUnseenAfterDays > 0)) {
    throw invalid('settings.expireUnseenAfterDays', `expected a positive number of days, got ${JSON.stringify(expireUnseenAfterDays)}`);
  }
  if (!isObject(config.hosts)) throw invalid('hosts', 'expected an object keyed by host pattern');
  const rules: HostRule[] = [];
  const index = new HostIndex<HostRule>();
  const patterns = new Set<string>();
  for (const [key, value] of Object.entries(config.hosts)) {
    const rule = validateHost(key, value);
    if (patterns.has(rule.pattern.text)) throw invalid(`hosts[${JSON.stringify(key)}]`, `the pattern ${rule.pattern.text} is listed twice`);
    patterns.add(rule.pattern.text);
    rules.push(rule);
    index.add(rule.pattern, rule);
    if (rule.includeSubdomains && rule.pattern.kind !== 'any-labels') {
      index.add({ text: `**.${rule.pattern.base}`, kind: 'any-labels', base: rule.pattern.base }, rule);
    }
  }
  return { unpinned, pinLevel, expireUnseenAfterDays, rules, index };
}
