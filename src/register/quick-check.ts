// The start-up check of certpin/register for the common case: a pin file in the shape certpin's own
// commands write. It decides only one thing, "certainly valid", and never refuses: anything it does not
// recognise goes through the full validation (pinfile/load.ts), which refuses with the field at fault.
// Everything the hook enforces comes from that full validation, made when the first connection needs
// it, never from here.
//
// Why it exists: with 1,000 hosts the full validation took ~10 ms at start-up and loading the modules
// it needs ~6 ms more, most of the hook's start-up budget (docs/performance.md). This walk allocates
// nothing per host and needs none of the parsers: only their canonical forms (policy/canonical.ts).
//
// What it accepts must be accepted by the full validation (test/register/quick-check.test.mjs checks
// it against the real one): so it accepts less. Declined: `settings.caFile` (the bundle must be read),
// an `expires` other than a date still to come (an expired pin set is warned about at start-up),
// annotations that are not plain values, host names that are addresses or IDNs, and any value not in
// its canonical form.

import { CANONICAL_PIN, NORMAL_HOST_NAME } from '../policy/canonical.js';

/** A host pattern in normal form ({@link NORMAL_HOST_NAME} with its optional `*.` or `**.`): its own text. */
const NORMAL_PATTERN = new RegExp(`^(?:\\*\\*?\\.)?${NORMAL_HOST_NAME.source.slice(1)}`);
/** A bare date, which policy/config.ts `parseExpiry` reads as the end of that day, UTC. */
const BARE_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 24 * 60 * 60 * 1000;
/** More pins than this in one entry are left to the full validation (duplicates are looked for pairwise here). */
const MAX_PINS = 32;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isTimestamp = (value: unknown): boolean => typeof value === 'string' && !Number.isNaN(Date.parse(value));

/**
 * An `x-` annotation holding a plain value, which every level accepts. One holding an array or object
 * is left to the full validation, which bounds its depth.
 */
function plainAnnotation(key: string, value: unknown): boolean {
  if (!key.startsWith('x-')) return false;
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

function pinObject(value: Record<string, unknown>): string | undefined {
  // `for…in` also lists inherited enumerable keys: such a key is not known here, so the file is declined.
  for (const key in value) {
    const field = value[key];
    switch (key) {
      case 'pin':
        if (typeof field !== 'string' || !CANONICAL_PIN.test(field)) return undefined;
        break;
      case 'status':
        if (field !== 'active' && field !== 'backup' && field !== 'pending_review' && field !== 'rejected' && field !== 'expired') return undefined;
        break;
      case 'subject':
      case 'note':
        if (typeof field !== 'string') return undefined;
        break;
      case 'firstSeen':
      case 'lastSeen':
        if (!isTimestamp(field)) return undefined;
        break;
      default:
        if (!plainAnnotation(key, field)) return undefined;
    }
  }
  return typeof value.pin === 'string' ? value.pin : undefined;
}

function pinsList(value: unknown): boolean {
  if (!Array.isArray(value) || value.length > MAX_PINS) return false;
  const pins = value as unknown[];
  for (let i = 0; i < pins.length; i++) {
    const entry = pins[i];
    const pin = typeof entry === 'string' ? (CANONICAL_PIN.test(entry) ? entry : undefined) : isRecord(entry) ? pinObject(entry) : undefined;
    if (pin === undefined) return false;
    for (let j = 0; j < i; j++) {
      const other = pins[j];
      if ((typeof other === 'string' ? other : (other as { pin: string }).pin) === pin) return false; // listed twice
    }
  }
  return true;
}

/** A bare date still to come: the full validation would warn at start-up about one that has passed. */
function futureDate(value: unknown, now: number): boolean {
  if (typeof value !== 'string' || !BARE_DATE.test(value)) return false;
  const start = Date.parse(`${value}T00:00:00.000Z`);
  return !Number.isNaN(start) && start + DAY_MS - 1 >= now;
}

/** A host name in normal form: what normalizeHostname would return for it, and not an address. */
const normalHost = (host: string): boolean => NORMAL_HOST_NAME.test(host) && !host.includes('xn--');

/**
 * Whether the entry `pattern` (in normal form), with `includeSubdomains`, covers `host` (in normal
 * form): what policy/hosts.ts `HostIndex.lookup` finds for it.
 */
function entryCovers(pattern: string, includeSubdomains: boolean, host: string): boolean {
  const anyLabels = pattern.startsWith('**.');
  const base = anyLabels ? pattern.slice(3) : pattern.startsWith('*.') ? pattern.slice(2) : pattern;
  const atOrUnder = host === base || host.endsWith(`.${base}`);
  if (anyLabels || (includeSubdomains && atOrUnder)) return atOrUnder;
  if (pattern === base) return host === base;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === base;
}

/** A report URI outside its own entry (a report about a failing pin could never arrive there). */
function reportUriOutside(value: unknown, pattern: string, includeSubdomains: boolean): boolean {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  return normalHost(url.hostname) && !entryCovers(pattern, includeSubdomains, url.hostname);
}

/** A probe host: a server the entry covers, named without wildcards. */
const probeHostCovered = (value: unknown, pattern: string, includeSubdomains: boolean): boolean =>
  typeof value === 'string' && normalHost(value) && entryCovers(pattern, includeSubdomains, value);

function hostEntry(pattern: string, value: unknown, now: number): boolean {
  if (!isRecord(value) || !pinsList(value.pins)) return false;
  const includeSubdomains = value.includeSubdomains === true;
  for (const key in value) {
    const field = value[key];
    switch (key) {
      case 'pins':
        break;
      case 'enforce':
      case 'includeSubdomains':
        if (typeof field !== 'boolean') return false;
        break;
      case 'port':
        if (!Number.isInteger(field) || (field as number) < 1 || (field as number) > 65535) return false;
        break;
      case 'expires':
        if (!futureDate(field, now)) return false;
        break;
      case 'lastChecked':
        if (!isTimestamp(field)) return false;
        break;
      case 'note':
        if (typeof field !== 'string') return false;
        break;
      case 'reportUri':
        if (!reportUriOutside(field, pattern, includeSubdomains)) return false;
        break;
      case 'probeHost':
        if (!probeHostCovered(field, pattern, includeSubdomains)) return false;
        break;
      default:
        if (!plainAnnotation(key, field)) return false;
    }
  }
  return true;
}

function settingsObject(value: unknown): boolean {
  if (!isRecord(value)) return false;
  for (const key in value) {
    const field = value[key];
    switch (key) {
      case 'unpinned':
        if (field !== 'allow' && field !== 'deny') return false;
        break;
      case 'pinLevel':
        if (field !== 'leaf' && field !== 'intermediate' && field !== 'root') return false;
        break;
      case 'expireUnseenAfterDays':
        if (typeof field !== 'number' || !Number.isFinite(field) || !(field > 0)) return false;
        break;
      case 'note':
        if (typeof field !== 'string') return false;
        break;
      default:
        // caFile included: its bundle must be read and hold a certificate.
        if (!plainAnnotation(key, field)) return false;
    }
  }
  return true;
}

/**
 * Whether `document` (a pin file's parsed JSON) is certainly valid: true only for what the full
 * validation accepts without a warning. False means "not known here", never "invalid".
 */
export function certainlyValidPinFile(document: unknown, now: number = Date.now()): boolean {
  if (!isRecord(document) || !isRecord(document.hosts)) return false;
  for (const key in document) {
    const field = document[key];
    switch (key) {
      case 'version':
        if (field !== 1) return false;
        break;
      case '$schema':
      case 'note':
        if (typeof field !== 'string') return false;
        break;
      case 'settings':
        if (!settingsObject(field)) return false;
        break;
      case 'hosts':
        break;
      default:
        if (!plainAnnotation(key, field)) return false;
    }
  }
  const hosts = document.hosts;
  for (const pattern in hosts) {
    // A pattern in normal form is its own text, so the keys of one object cannot name one pattern twice.
    if (!NORMAL_PATTERN.test(pattern) || pattern.includes('xn--')) return false;
    if (!hostEntry(pattern, hosts[pattern], now)) return false;
  }
  return true;
}
