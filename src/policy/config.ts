import { CertpinError } from '../errors.js';
import { parseHostPattern, normalizeHostname, HostIndex, type HostPattern } from './hosts.js';
import { parsePin } from './pin.js';
import { nearestName } from '../lib/suggest.js';
import type { ViolationReport } from '../channels.js';

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
/** Only these statuses are trusted (docs/policy.md). */
export const TRUSTED_STATUSES: ReadonlySet<PinStatus> = new Set<PinStatus>(['active', 'backup']);

/**
 * Room for people's own annotations, at every level of a configuration (top level, `settings`, a host
 * entry, a pin): `note` (free text) and any key starting with `x-`, holding any JSON value. certpin
 * never reads them and keeps them on every rewrite of the pin file. Every other key must be one
 * certpin knows (docs/policy.md).
 *
 * @example
 * ```ts
 * import type { Annotations } from 'certpin'
 * const owner: Annotations = { 'x-owner': { team: 'payments', oncall: '#pay-oncall' } }
 * ```
 */
export interface Annotations {
  /** Free text for people, e.g. where a backup key is kept or who owns the host. */
  note?: string;
  [key: `x-${string}`]: unknown;
}

/**
 * A pin with its status and the facts `init` and `rotate` record (`subject`, `firstSeen`, `lastSeen`),
 * plus a free-text `note` and `x-` annotations. No other key is accepted.
 *
 * @example
 * ```ts
 * import type { PinRecord } from 'certpin'
 * const backup: PinRecord = { pin: 'sha256/…=', status: 'backup', note: 'offline key, safe 3', 'x-ticket': 'SEC-42' }
 * ```
 */
export interface PinRecord extends Annotations {
  pin: string;
  status: PinStatus;
  /** The subject of the certificate the pin was seen in (written by `init` and `rotate`). */
  subject?: string;
  /** When `init` or `rotate` first saw the pin (ISO date-time). */
  firstSeen?: string;
  /** When `init` or `rotate` last saw the pin (ISO date-time); `rotate` expires active pins unseen for long. */
  lastSeen?: string;
}

/**
 * One host pattern's entry: its pins and how they are enforced. Besides these keys only annotations
 * (`note`, `x-…`) are accepted: a misspelled key (`includeSubdomain`) does not compile, and at run time
 * it is `ERR_CERTPIN_INVALID_CONFIG` naming the key and the nearest known one.
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
export interface HostConfig extends Annotations {
  /** A bare string means an `active` pin. */
  pins: Array<string | PinRecord>;
  /** `false` = report-only. @default true */
  enforce?: boolean;
  /** ISO date or date-time; a bare date means the end of that day, UTC. After it, pins are not enforced and every connection is reported as unpinned. */
  expires?: string;
  /** Where violation reports are POSTed; never a URI under the same entry. */
  reportUri?: string;
  /** Same as also listing `**.host`. @default false */
  includeSubdomains?: boolean;
  /** The port `certpin` commands probe. @default 443 */
  port?: number;
  /** When `rotate` last checked the host (ISO date-time). */
  lastChecked?: string;
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
export interface PolicySettings extends Annotations {
  /** Hosts without pins: `allow` (standard validation only) or `deny`. @default 'allow' */
  unpinned?: 'allow' | 'deny';
  /** Which certificate of the verified chain `init` and `rotate` record. @default 'intermediate' */
  pinLevel?: 'leaf' | 'intermediate' | 'root';
  /** `rotate` marks active pins not seen for this many days `expired`. @default 90 */
  expireUnseenAfterDays?: number;
  /** A PEM bundle (relative to the pin file) that replaces the default roots for `certpin/register`. */
  caFile?: string;
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
 * The `settings` + `hosts` shape of the pin file, plus a trust store and, optionally, the violation
 * callback. Unknown keys are refused (`ERR_CERTPIN_INVALID_CONFIG` naming the key, where it is and the
 * nearest known key); `note` and `x-…` keys are annotations.
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
export interface PolicyConfig extends Annotations {
  /** The format version: only 1. */
  version?: number;
  /** The JSON Schema the file declares (editors use it); not read by certpin. */
  $schema?: string;
  settings?: PolicySettings;
  hosts: Record<string, HostConfig>;
  /** When given, replaces the default roots (like curl's `--cacert`): the "trust only this CA" mode. Not part of the pin file. */
  ca?: CaInput;
  /**
   * The same as `createPolicy`'s `onViolation` option, accepted here too so that
   * `createPolicy({ hosts, onViolation })` reports as it reads. Giving two different callbacks (here
   * and in the options) is a `TypeError`. On `policy.update(config)` a callback given here replaces
   * the one in force; a config without one keeps it. Not part of the pin file.
   */
  onViolation?: (report: ViolationReport) => void;
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

/** A value as an error message quotes it: never throws (BigInt, cycles, depth), never long. */
export function showValue(value: unknown): string {
  switch (typeof value) {
    case 'bigint':
      return `${value}n`;
    case 'function':
      return 'a function';
    case 'symbol':
      return value.toString();
    case 'undefined':
      return 'undefined';
    default:
  }
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Array.isArray(value) ? 'an array' : 'an object';
  }
}

/**
 * Where a configuration comes from: a `policy` (createPolicy, update) may also carry `ca` and
 * `onViolation`; a pin `file` may not (a `ca` there used to be dropped without a word).
 */
export type ConfigSource = 'policy' | 'file';

/**
 * Options of {@link validateConfig}.
 *
 * @example
 * ```js
 * validateConfig(JSON.parse(text), { source: 'file' })
 * ```
 */
export interface ValidateOptions {
  /** @default 'policy' */
  source?: ConfigSource;
}

/**
 * The keys certpin knows at each level of a configuration (docs/policy.md). `note` (free text, at every
 * level) and `x-…` keys are annotations.
 */
export const CONFIG_KEYS = Object.freeze({
  top: Object.freeze(['version', '$schema', 'settings', 'hosts', 'ca', 'onViolation', 'note']),
  file: Object.freeze(['version', '$schema', 'settings', 'hosts', 'note']),
  settings: Object.freeze(['unpinned', 'pinLevel', 'expireUnseenAfterDays', 'caFile', 'note']),
  host: Object.freeze(['pins', 'enforce', 'expires', 'reportUri', 'includeSubdomains', 'port', 'lastChecked', 'probeHost', 'note']),
  pin: Object.freeze(['pin', 'status', 'subject', 'firstSeen', 'lastSeen', 'note']),
});

/** Whether `key` is an annotation (`x-…`), which every level accepts and every rewrite keeps. */
export const isAnnotation = (key: string): boolean => key.startsWith('x-');

/** Deeper than any configuration needs (the pins sit at depth 4; annotations get the rest). */
export const MAX_CONFIG_DEPTH = 64;

/**
 * One key certpin does not know, with where it is and what to do.
 *
 * @example
 * ```js
 * for (const { path, message } of findUnknownKeys(config)) console.error(`${path}: ${message}`)
 * ```
 */
export interface UnknownKey {
  /** Where the key is, e.g. `hosts["api.example.com"].includeSubdomain`. */
  readonly path: string;
  readonly key: string;
  /** The host entry it is in (its key in `hosts`), if any. */
  readonly host: string | undefined;
  /** The known key it most likely means, with its place when that is another level (`settings.unpinned`). */
  readonly suggestion: string | undefined;
  readonly message: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** `hosts["api.example.com"].pins`; a top-level key is named bare (`x-owner`, `$schema`), as the README does. */
const member = (path: string, key: string): string => {
  if (path === '') return key;
  return `${path}${IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`;
};

type Level = 'top' | 'settings' | 'host' | 'pin';
/** Where a key of each level goes, for "belongs under …" hints. */
const PLACE: Record<Level, string> = { top: '', settings: 'settings', host: 'hosts[…]', pin: 'hosts[…].pins[…]' };

function unknownKey(path: string, key: string, level: Level, known: readonly string[], source: ConfigSource, host: string | undefined): UnknownKey {
  const where = member(path, key);
  let suggestion = nearestName(key, known);
  if (suggestion === undefined) {
    // A known key at the wrong level: `unpinned` at the top level, `status` on a host entry.
    for (const other of ['settings', 'host', 'pin', 'top'] as const) {
      if (other === level) continue;
      const keys = other === 'top' ? CONFIG_KEYS[source === 'file' ? 'file' : 'top'] : CONFIG_KEYS[other];
      const near = nearestName(key, keys);
      if (near !== undefined) {
        suggestion = PLACE[other] === '' ? near : `${PLACE[other]}.${near}`;
        break;
      }
    }
  }
  let message: string;
  if (source === 'file' && level === 'top' && (key === 'ca' || key === 'onViolation')) {
    message = key === 'ca'
      ? 'not part of the pin file, and never read from it: give loadPolicy its ca option, or name a PEM bundle in settings.caFile for certpin/register'
      : 'not part of the pin file: a callback is loadPolicy\'s onViolation option';
  } else {
    const hint = suggestion === undefined ? `known keys here: ${known.join(', ')}` : `did you mean ${suggestion}?`;
    message = `unknown key ${JSON.stringify(key)} (${hint}); certpin refuses keys it does not know, so that a typo never leaves a host unpinned. Your own annotations go in "note" or in keys starting with "x-"`;
  }
  return { path: where, key, host, suggestion, message };
}

/**
 * Every key of a configuration that certpin does not know, level by level (top, `settings`, each host
 * entry, each pin object), in document order. `x-…` keys are annotations and never reported.
 */
export function findUnknownKeys(config: unknown, options: ValidateOptions = {}): UnknownKey[] {
  const source = options.source ?? 'policy';
  const found: UnknownKey[] = [];
  if (!isObject(config)) return found;
  // Paths are written only for a key that is reported: with 1,000 hosts, building them for every
  // entry and pin was a measurable part of certpin/register's start-up (docs/performance.md).
  const check = (value: Record<string, unknown>, path: () => string, level: Level, known: readonly string[], host?: string): void => {
    for (const key of Object.keys(value)) {
      if (!known.includes(key) && !isAnnotation(key)) found.push(unknownKey(path(), key, level, known, source, host));
    }
  };
  check(config, () => '', 'top', source === 'file' ? CONFIG_KEYS.file : CONFIG_KEYS.top);
  if (isObject(config.settings)) check(config.settings, () => 'settings', 'settings', CONFIG_KEYS.settings);
  if (isObject(config.hosts)) {
    for (const [pattern, entry] of Object.entries(config.hosts)) {
      if (!isObject(entry)) continue;
      const path = (): string => `hosts[${JSON.stringify(pattern)}]`;
      check(entry, path, 'host', CONFIG_KEYS.host, pattern);
      if (!Array.isArray(entry.pins)) continue;
      entry.pins.forEach((pin, i) => {
        if (isObject(pin)) check(pin, () => `${path()}.pins[${i}]`, 'pin', CONFIG_KEYS.pin, pattern);
      });
    }
  }
  return found;
}

/**
 * Whether {@link findUnknownKeys} would find anything: the same levels, with no closure, path or key
 * array per entry. `for…in` walks V8's enum cache, shared by the entries JSON.parse gives one shape.
 * It would also list enumerable keys added to `Object.prototype`; such a key only sends validation to
 * findUnknownKeys, which reads own keys and decides as before.
 */
function hasUnknownKey(config: Record<string, unknown>, source: ConfigSource): boolean {
  const unknownIn = (value: Record<string, unknown>, known: readonly string[]): boolean => {
    for (const key in value) if (!known.includes(key) && !isAnnotation(key)) return true;
    return false;
  };
  if (unknownIn(config, source === 'file' ? CONFIG_KEYS.file : CONFIG_KEYS.top)) return true;
  if (isObject(config.settings) && unknownIn(config.settings, CONFIG_KEYS.settings)) return true;
  const hosts = config.hosts;
  if (!isObject(hosts)) return false;
  for (const pattern of Object.keys(hosts)) {
    const entry = hosts[pattern];
    if (!isObject(entry)) continue;
    if (unknownIn(entry, CONFIG_KEYS.host)) return true;
    const pins = entry.pins;
    if (!Array.isArray(pins)) continue;
    for (const pin of pins as unknown[]) if (isObject(pin) && unknownIn(pin, CONFIG_KEYS.pin)) return true;
  }
  return false;
}

/** The path of a value from its keys, its first steps only when it is deep (a 64-level path helps nobody). */
function pathOf(steps: ReadonlyArray<string | number>): string {
  let path = '';
  for (const step of steps.slice(0, 6)) path = typeof step === 'number' ? `${path}[${step}]` : member(path, step);
  if (steps.length > 6) path += '…';
  return path === '' ? 'config' : path;
}

/**
 * Refuses what JSON cannot hold, before anything else reads the configuration: a BigInt, a function
 * (but `onViolation`), a symbol, NaN or an infinity, an object that is not a plain object or array
 * (a Date, a Map), a circular structure, and nesting deeper than {@link MAX_CONFIG_DEPTH}. Each would
 * otherwise surface as one of Node's own errors ("Do not know how to serialize a BigInt", "Maximum call
 * stack size exceeded") from deep inside, or be lost on the next rewrite. The top-level `ca` (PEM text
 * or bytes) is checked by its own rule.
 *
 * Depth-first, last member first (the order of the explicit stack this replaced, so the same value is
 * reported when several are wrong). It recurses, but a level deeper than {@link MAX_CONFIG_DEPTH} is
 * refused before its members are visited, so depth cannot overflow the stack. It allocates nothing per
 * value (the path is written only on failure): with 1,000 hosts, one record per value was a large part
 * of certpin/register's start-up, most of it in the garbage collector (docs/performance.md).
 */
function assertJsonValues(config: Record<string, unknown>): void {
  const keys = Object.keys(config);
  const steps: Array<string | number> = [];
  const ancestors: unknown[] = [config];
  for (let k = keys.length - 1; k >= 0; k--) {
    const key = keys[k]!;
    const value = config[key];
    if ((key === 'ca' || key === 'onViolation') && value !== undefined) continue;
    steps.push(key);
    assertJsonValue(value, 1, steps, ancestors);
    steps.pop();
  }
}

function assertJsonValue(value: unknown, depth: number, steps: Array<string | number>, ancestors: unknown[]): void {
  const kind = typeof value;
  if (value === null || value === undefined || kind === 'string' || kind === 'boolean') return;
  if (kind === 'number') {
    if (!Number.isFinite(value)) throw invalid(pathOf(steps), `${String(value)} is not a JSON number`);
    return;
  }
  if (kind !== 'object') throw invalid(pathOf(steps), `${showValue(value)} is not a JSON value (a ${kind}); a configuration holds only what JSON can`);
  const proto = Object.getPrototypeOf(value) as unknown;
  const isArray = Array.isArray(value);
  if (!isArray && proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    throw invalid(pathOf(steps), `a ${typeof name === 'string' ? name : 'non-plain'} object is not a JSON value; use a string, number, boolean, array or plain object`);
  }
  if (depth > MAX_CONFIG_DEPTH) throw invalid(pathOf(steps), `nested deeper than ${MAX_CONFIG_DEPTH} levels; a configuration never needs that`);
  if (ancestors.includes(value)) throw invalid(pathOf(steps), 'refers to an object that contains it (a circular structure), which JSON cannot hold');
  ancestors.push(value);
  if (isArray) {
    const items = value as unknown[];
    for (let i = items.length - 1; i >= 0; i--) {
      if (!(i in items)) continue; // a hole, which forEach skipped too
      steps.push(i);
      assertJsonValue(items[i], depth + 1, steps, ancestors);
      steps.pop();
    }
  } else {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    for (let k = keys.length - 1; k >= 0; k--) {
      const key = keys[k]!;
      steps.push(key);
      assertJsonValue(record[key], depth + 1, steps, ancestors);
      steps.pop();
    }
  }
  ancestors.pop();
}

function validateCa(ca: unknown): void {
  const isBundle = (v: unknown): boolean => (typeof v === 'string' && v.trim() !== '') || v instanceof Uint8Array;
  if (Array.isArray(ca) ? ca.length > 0 && ca.every(isBundle) : isBundle(ca)) return;
  const what = Array.isArray(ca) && ca.length === 0 ? 'an empty list, which would trust no server at all' : showValue(ca);
  throw invalid('ca', `expected PEM text, DER or PEM bytes (a Buffer), or a non-empty array of them, got ${what}`);
}

const timestamp = (v: unknown): boolean => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** `2027-06-30` means the end of that day, UTC (docs/cli.md); a date-time is taken as written. */
export function parseExpiry(value: string): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00.000Z`);
    return Number.isNaN(start) ? undefined : start + 24 * 60 * 60 * 1000 - 1;
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}

const TEXT_FIELDS = ['subject', 'note'] as const;
const TIME_FIELDS = ['firstSeen', 'lastSeen'] as const;

/**
 * The pin at `hosts[…].pins[i]`. `host` writes the entry's path (`hosts["api.example.com"]`): it is
 * called only to report an error, as quoting the host for each of 2,000 pins that are fine showed in
 * start-up profiles (docs/performance.md); for the same reason no closure is made per pin.
 */
function validatePin(entry: unknown, host: () => string, i: number): PinRecord {
  const path = (): string => `${host()}.pins[${i}]`;
  if (typeof entry === 'string') {
    return { pin: pinAt(entry, host, i, ''), status: 'active' };
  }
  if (!isObject(entry)) throw invalid(path(), `expected a pin string or an object with pin and status, got ${showValue(entry)}`);
  const pin = pinAt(entry.pin, host, i, '.pin');
  const status = entry.status ?? 'active';
  if (typeof status !== 'string' || !(PIN_STATUSES as readonly string[]).includes(status)) {
    throw invalid(`${path()}.status`, `must be one of ${PIN_STATUSES.join(', ')}, got ${showValue(entry.status)}`);
  }
  for (const field of TEXT_FIELDS) {
    if (entry[field] !== undefined && typeof entry[field] !== 'string') throw invalid(`${path()}.${field}`, `expected a string, got ${showValue(entry[field])}`);
  }
  for (const field of TIME_FIELDS) {
    if (entry[field] !== undefined && !timestamp(entry[field])) throw invalid(`${path()}.${field}`, `expected an ISO date-time, got ${showValue(entry[field])}`);
  }
  return { ...entry, pin, status: status as PinStatus };
}

/** `hosts[…].pins[i]` + `field` ('' or '.pin'), parsed. */
function pinAt(value: unknown, host: () => string, i: number, field: string): string {
  if (typeof value !== 'string') throw invalid(`${host()}.pins[${i}]${field}`, `expected a pin string, got ${showValue(value)}`);
  try {
    return parsePin(value);
  } catch (error) {
    throw invalid(`${host()}.pins[${i}]${field}`, (error as Error).message);
  }
}

function validateHost(key: string, value: unknown): HostRule {
  // Written only when an error names it (see validatePin).
  let quotedPath: string | undefined;
  const at = (): string => (quotedPath ??= `hosts[${JSON.stringify(key)}]`);
  let pattern: HostPattern;
  try {
    pattern = parseHostPattern(key);
  } catch (error) {
    throw invalid(at(), (error as Error).message);
  }
  if (!isObject(value)) throw invalid(at(), `expected an object with a pins array, got ${showValue(value)}`);
  if (!Array.isArray(value.pins)) throw invalid(`${at()}.pins`, `expected an array of pins, got ${showValue(value.pins)}`);
  // Index loops rather than map/entries(): no callback or iterator pair per pin (start-up, docs/performance.md).
  const given = value.pins as unknown[];
  const pins: PinRecord[] = [];
  const trustedPins: string[] = [];
  for (let i = 0; i < given.length; i++) {
    const record = validatePin(given[i], at, i);
    pins.push(record);
  }
  const seen = new Set<string>();
  for (let i = 0; i < pins.length; i++) {
    const record = pins[i]!;
    if (seen.has(record.pin)) throw invalid(`${at()}.pins[${i}].pin`, `${record.pin} is listed twice`);
    seen.add(record.pin);
    if (TRUSTED_STATUSES.has(record.status)) trustedPins.push(record.pin);
  }
  if (value.enforce !== undefined && typeof value.enforce !== 'boolean') throw invalid(`${at()}.enforce`, `expected true or false, got ${showValue(value.enforce)}`);
  if (value.includeSubdomains !== undefined && typeof value.includeSubdomains !== 'boolean') {
    throw invalid(`${at()}.includeSubdomains`, `expected true or false, got ${showValue(value.includeSubdomains)}`);
  }
  let expiresAt: number | undefined;
  if (value.expires !== undefined) {
    expiresAt = typeof value.expires === 'string' ? parseExpiry(value.expires) : undefined;
    if (expiresAt === undefined) throw invalid(`${at()}.expires`, `expected an ISO date such as "2027-06-30", got ${showValue(value.expires)}`);
  }
  if (value.port !== undefined && (!Number.isInteger(value.port) || (value.port as number) < 1 || (value.port as number) > 65535)) {
    throw invalid(`${at()}.port`, `expected a port number 1-65535, got ${showValue(value.port)}`);
  }
  if (value.lastChecked !== undefined && !timestamp(value.lastChecked)) throw invalid(`${at()}.lastChecked`, `expected an ISO date-time, got ${showValue(value.lastChecked)}`);
  if (value.note !== undefined && typeof value.note !== 'string') throw invalid(`${at()}.note`, `expected a string, got ${showValue(value.note)}`);
  if (value.probeHost !== undefined && typeof value.probeHost !== 'string') throw invalid(`${at()}.probeHost`, `expected a host name, got ${showValue(value.probeHost)}`);
  let reportUri: string | undefined;
  if (value.reportUri !== undefined) {
    let url: URL;
    try {
      if (typeof value.reportUri !== 'string') throw new Error('not a string');
      url = new URL(value.reportUri);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw invalid(`${at()}.reportUri`, `expected an http(s) URL, got ${showValue(value.reportUri)}`);
    }
    const reportHost = normalizeHostname(url.hostname);
    const probe = new HostIndex<true>();
    probe.add(pattern, true);
    if (value.includeSubdomains === true) probe.add({ text: `**.${pattern.base}`, kind: 'any-labels', base: pattern.base }, true);
    if (probe.lookup(reportHost).length > 0) {
      throw invalid(`${at()}.reportUri`, `${value.reportUri} is under ${key} itself: a report about a failing pin could never arrive there; use a host outside this entry`);
    }
    reportUri = url.href;
  }
  return {
    key,
    pattern,
    pins,
    trustedPins,
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
 * `hosts["api.example.com"].pins[2].pin: not a SHA-256 pin: "sha256/abc" (…)`. Refuses, in this order:
 * values JSON cannot hold (BigInt, cycles, deep nesting), unknown keys (with the nearest known key),
 * then wrong values.
 */
export function validateConfig(config: unknown, options: ValidateOptions = {}): ValidatedConfig {
  const source = options.source ?? 'policy';
  if (!isObject(config)) throw invalid('config', `expected an object with a hosts object, got ${showValue(config)}`);
  assertJsonValues(config);
  // The full search (paths, suggestions) runs only when the cheap scan finds a key to report.
  if (hasUnknownKey(config, source)) {
    const [unknown] = findUnknownKeys(config, { source });
    if (unknown !== undefined) throw invalid(unknown.path, unknown.message);
  }
  if (config.version !== undefined && config.version !== 1) throw invalid('version', `only version 1 is known, got ${showValue(config.version)}`);
  if (config.note !== undefined && typeof config.note !== 'string') throw invalid('note', `expected a string, got ${showValue(config.note)}`);
  if (config.$schema !== undefined && typeof config.$schema !== 'string') throw invalid('$schema', `expected the schema's URL or path, got ${showValue(config.$schema)}`);
  if (config.ca !== undefined) validateCa(config.ca);
  if (config.onViolation !== undefined && typeof config.onViolation !== 'function') {
    throw invalid('onViolation', `expected a function called with each violation report, got ${showValue(config.onViolation)}`);
  }
  const settings = config.settings ?? {};
  if (!isObject(settings)) throw invalid('settings', `expected an object, got ${showValue(settings)}`);
  const unpinned = settings.unpinned ?? 'allow';
  if (unpinned !== 'allow' && unpinned !== 'deny') throw invalid('settings.unpinned', `expected "allow" or "deny", got ${showValue(unpinned)}`);
  const pinLevel = settings.pinLevel ?? 'intermediate';
  if (pinLevel !== 'leaf' && pinLevel !== 'intermediate' && pinLevel !== 'root') {
    throw invalid('settings.pinLevel', `expected "leaf", "intermediate" or "root", got ${showValue(pinLevel)}`);
  }
  const expireUnseenAfterDays = settings.expireUnseenAfterDays ?? 90;
  if (typeof expireUnseenAfterDays !== 'number' || !(expireUnseenAfterDays > 0)) {
    throw invalid('settings.expireUnseenAfterDays', `expected a positive number of days, got ${showValue(expireUnseenAfterDays)}`);
  }
  if (settings.note !== undefined && typeof settings.note !== 'string') throw invalid('settings.note', `expected a string, got ${showValue(settings.note)}`);
  if (settings.caFile !== undefined && (typeof settings.caFile !== 'string' || settings.caFile === '')) {
    throw invalid('settings.caFile', `expected the path of a PEM bundle, got ${showValue(settings.caFile)}`);
  }
  if (!isObject(config.hosts)) throw invalid('hosts', `expected an object keyed by host pattern, got ${showValue(config.hosts)}`);
  const rules: HostRule[] = [];
  const index = new HostIndex<HostRule>();
  const patterns = new Set<string>();
  const hosts = config.hosts;
  for (const key of Object.keys(hosts)) {
    const rule = validateHost(key, hosts[key]);
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

/** Hosts whose expired pins were already warned about in this process (pattern and moment): once each. */
const warnedExpired = new Set<string>();

/**
 * Warns once per process, as a `CertpinWarning` with code `CERTPIN_PINS_EXPIRED`, about each host
 * entry whose `expires` has already passed: its pins are not enforced, so the host runs unpinned
 * (each connection is reported, but without a report sink nobody hears of it). Called when a policy
 * is built or updated, by `loadPolicy` and by `certpin/register` at start-up.
 *
 * @example
 * ```js
 * process.on('warning', (w) => { if (w.code === 'CERTPIN_PINS_EXPIRED') alert(w.message) })
 * ```
 */
export function warnExpiredPins(validated: ValidatedConfig, source?: string, now: number = Date.now()): void {
  for (const rule of validated.rules) {
    if (rule.expiresAt === undefined || rule.expiresAt >= now) continue;
    const id = `${rule.pattern.text}\0${rule.expiresAt}`;
    if (warnedExpired.has(id)) continue;
    warnedExpired.add(id);
    const on = new Date(rule.expiresAt).toISOString().slice(0, 10);
    process.emitWarning(
      `${source === undefined ? 'certpin' : source}: the pins of ${rule.key} expired on ${on} (hosts[${JSON.stringify(rule.key)}].expires): they are no longer enforced and every connection to it runs unpinned`,
      { type: 'CertpinWarning', code: 'CERTPIN_PINS_EXPIRED', detail: 'Check the pins, then move "expires" forward (`certpin lint` lists every host that runs unpinned).' },
    );
  }
}
