import { CertpinError } from '../errors.js';
import { validateConfig, type HostRule, type PolicyConfig } from '../config.js';
import { normalizeHostname, parseHostPattern } from '../hosts.js';

/**
 * The pinning systems certpin can write pins for.
 *
 * @example
 * ```js
 * for (const format of EXPORT_FORMATS) writeFileSync(`pins.${format}.txt`, exportPins(config, format).text)
 * ```
 */
export const EXPORT_FORMATS = ['okhttp', 'android', 'trustkit', 'curl', 'hpkp'] as const;
/**
 * One of {@link EXPORT_FORMATS}.
 *
 * @example
 * ```ts
 * import { exportPins, type ExportFormat } from 'certpin'
 * const format: ExportFormat = 'okhttp'
 * console.log(exportPins(config, format).text)
 * ```
 */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * Options of {@link exportPins}.
 *
 * @example
 * ```js
 * exportPins(config, 'hpkp', { host: 'api.example.com', maxAge: 30 * 24 * 3600 })
 * ```
 */
export interface ExportOptions {
  /** Only the entry for this host (its pattern as written, or a host name the entries match). */
  host?: string | undefined;
  /** The clock, for HPKP's max-age and for skipping pin sets past `expires`. @default Date.now() */
  now?: Date | number | undefined;
  /** HPKP max-age, in seconds, for entries without `expires`. @default 5184000 (60 days, RFC 7469 15.2) */
  maxAge?: number | undefined;
}

/**
 * An export: the text for the other system, and what it could not say.
 *
 * @example
 * ```js
 * const { text, notes } = exportPins(config, 'curl', { host: 'api.example.com' })
 * process.stdout.write(text)
 * for (const note of notes) console.error(note)
 * ```
 */
export interface ExportResult {
  /** The pins in the target system's own syntax, ending with a newline. */
  text: string;
  /** Caveats for a human (what was widened, left out, or cannot be said): print them on stderr. */
  notes: string[];
}

/** One entry as the exports see it: base64 pins, and the domain when a `*.x` pattern is widened. */
interface ExportEntry {
  readonly rule: HostRule;
  readonly pins: readonly string[];
  /** The pattern's domain and whether subdomains are included, for formats without `*.` patterns. */
  readonly domain: string;
  readonly includeSubdomains: boolean;
  readonly widened: boolean;
  /** `expires` as a UTC date (YYYY-MM-DD), or null. */
  readonly expiration: string | null;
}

const base64Of = (pin: string) => pin.slice('sha256/'.length);
const isoDate = (at: number) => new Date(at).toISOString().slice(0, 10);

function entriesOf(config: PolicyConfig, options: ExportOptions, notes: string[]): ExportEntry[] {
  const { rules, index } = validateConfig(config);
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  let selected: readonly HostRule[] = rules;
  if (options.host !== undefined) {
    const wanted = (() => {
      try {
        return parseHostPattern(options.host).text;
      } catch {
        return undefined;
      }
    })();
    const byPattern = rules.filter((r) => r.pattern.text === wanted);
    selected = byPattern.length > 0 ? byPattern : [...new Set(index.lookup(normalizeHostname(options.host)))];
    if (selected.length === 0) throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `no host entry matches ${JSON.stringify(options.host)}; \`certpin export\` without --host lists them all`);
  }
  const entries: ExportEntry[] = [];
  for (const rule of selected) {
    if (rule.trustedPins.length === 0) {
      notes.push(`${rule.key}: left out: it has no trusted (active or backup) pin`);
      continue;
    }
    if (rule.expiresAt !== undefined && rule.expiresAt < now) {
      notes.push(`${rule.key}: left out: its pins expired on ${isoDate(rule.expiresAt)} and are no longer enforced`);
      continue;
    }
    const widened = rule.pattern.kind === 'one-label';
    entries.push({
      rule,
      pins: rule.trustedPins.map(base64Of),
      domain: rule.pattern.base,
      includeSubdomains: rule.pattern.kind !== 'exact' || rule.includeSubdomains,
      widened,
      expiration: rule.expiresAt === undefined ? null : isoDate(rule.expiresAt),
    });
  }
  return entries;
}

function noteWidened(entries: readonly ExportEntry[], format: string, notes: string[]): void {
  for (const e of entries) {
    if (e.widened) notes.push(`${e.rule.key}: ${format} cannot say "exactly one label": widened to ${e.domain} with all its subdomains (${e.domain} itself included)`);
  }
}

function noteNoExpiry(entries: readonly ExportEntry[], format: string, notes: string[]): void {
  for (const e of entries) {
    if (e.expiration !== null) notes.push(`${e.rule.key}: ${format} has no pin expiry: these pins stay enforced after ${e.expiration} until the client is updated`);
  }
}

function skipReportOnly(entries: readonly ExportEntry[], format: string, notes: string[]): ExportEntry[] {
  return entries.filter((e) => {
    if (e.rule.enforce) return true;
    notes.push(`${e.rule.key}: left out: it is report-only (enforce: false), which ${format} cannot express`);
    return false;
  });
}

/** A domain of the formats without `*.` patterns, after widening: entries landing on one domain merged. */
interface DomainEntry {
  readonly domain: string;
  readonly keys: string[];
  includeSubdomains: boolean;
  readonly pins: Set<string>;
  expiration: string | null;
  expiresAt: number | undefined;
  enforce: boolean;
  reportUri: string | undefined;
}

/**
 * Android refuses a domain listed in two domain-configs, and a Swift dictionary cannot hold one key
 * twice, so entries that land on the same domain (`x` and a widened `*.x`) are merged: the union of
 * their pins (as certpin applies when both patterns match), enforced if either is, and pinned until the
 * later expiry (none if either has none).
 */
function byDomain(entries: readonly ExportEntry[], format: string, notes: string[]): DomainEntry[] {
  noteWidened(entries, format, notes);
  const domains = new Map<string, DomainEntry>();
  for (const e of entries) {
    const merged = domains.get(e.domain);
    if (merged === undefined) {
      domains.set(e.domain, {
        domain: e.domain, keys: [e.rule.key], includeSubdomains: e.includeSubdomains, pins: new Set(e.pins), expiration: e.expiration,
        expiresAt: e.rule.expiresAt, enforce: e.rule.enforce, reportUri: e.rule.reportUri,
      });
      continue;
    }
    merged.keys.push(e.rule.key);
    merged.includeSubdomains ||= e.includeSubdomains;
    e.pins.forEach((p) => merged.pins.add(p));
    const later = merged.expiresAt === undefined || e.rule.expiresAt === undefined ? undefined : Math.max(merged.expiresAt, e.rule.expiresAt);
    merged.expiresAt = later;
    merged.expiration = later === undefined ? null : isoDate(later);
    merged.enforce ||= e.rule.enforce;
    merged.reportUri ??= e.rule.reportUri;
  }
  for (const d of domains.values()) {
    if (d.keys.length > 1) notes.push(`${d.keys.join(' and ')}: merged into one ${format} entry for ${d.domain}, with the pins of both`);
  }
  return [...domains.values()];
}

const quoteKotlin = (text: string) => JSON.stringify(text).replace(/\$/g, '\\$');

function okhttp(entries: ExportEntry[], notes: string[]): string {
  const kept = skipReportOnly(entries, 'OkHttp', notes);
  noteNoExpiry(kept, 'OkHttp', notes);
  const lines = ['val certificatePinner = CertificatePinner.Builder()'];
  for (const e of kept) {
    const pins = e.rule.trustedPins.map(quoteKotlin).join(', ');
    lines.push(`    .add(${quoteKotlin(e.rule.pattern.text)}, ${pins})`);
    // OkHttp's `**.x` also matches `x` itself, like certpin's `includeSubdomains`.
    if (e.rule.includeSubdomains && e.rule.pattern.kind !== 'any-labels') lines.push(`    .add(${quoteKotlin(`**.${e.domain}`)}, ${pins})`);
  }
  lines.push('    .build()');
  return `${lines.join('\n')}\n`;
}

const xmlEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function android(entries: ExportEntry[], notes: string[]): string {
  const lines = ['<?xml version="1.0" encoding="utf-8"?>', '<network-security-config>'];
  for (const d of byDomain(skipReportOnly(entries, 'Android', notes), 'Android', notes)) {
    lines.push('    <domain-config>');
    lines.push(`        <domain includeSubdomains="${d.includeSubdomains}">${xmlEscape(d.domain)}</domain>`);
    lines.push(d.expiration === null ? '        <pin-set>' : `        <pin-set expiration="${d.expiration}">`);
    for (const pin of d.pins) lines.push(`            <pin digest="SHA-256">${xmlEscape(pin)}</pin>`);
    lines.push('        </pin-set>');
    lines.push('    </domain-config>');
  }
  lines.push('</network-security-config>');
  return `${lines.join('\n')}\n`;
}

function trustkit(entries: ExportEntry[], notes: string[]): string {
  const lines = ['let trustKitConfig: [String: Any] = [', '    kTSKSwizzleNetworkDelegates: false,', '    kTSKPinnedDomains: ['];
  for (const d of byDomain(entries, 'TrustKit', notes)) {
    if (d.pins.size < 2) notes.push(`${d.keys.join(', ')}: TrustKit refuses a domain with fewer than two pins: add a backup pin (certpin keygen)`);
    lines.push(`        ${JSON.stringify(d.domain)}: [`);
    lines.push(`            kTSKEnforcePinning: ${d.enforce},`);
    lines.push(`            kTSKIncludeSubdomains: ${d.includeSubdomains},`);
    if (d.expiration !== null) lines.push(`            kTSKExpirationDate: ${JSON.stringify(d.expiration)},`);
    if (d.reportUri !== undefined) lines.push(`            kTSKReportUris: [${JSON.stringify(d.reportUri)}],`);
    lines.push('            kTSKPublicKeyHashes: [');
    for (const pin of d.pins) lines.push(`                ${JSON.stringify(pin)},`);
    lines.push('            ],');
    lines.push('        ],');
  }
  lines.push('    ],', ']');
  return `${lines.join('\n')}\n`;
}

function curl(entries: ExportEntry[], notes: string[]): string {
  const kept = skipReportOnly(entries, 'curl', notes);
  notes.push('curl --pinnedpubkey checks only the server\'s own (leaf) key, never an intermediate or root: only leaf-key pins can match there');
  return kept.map((e) => `${e.rule.pattern.text}\t${e.pins.map((p) => `sha256//${p}`).join(';')}\n`).join('');
}

function hpkp(entries: ExportEntry[], notes: string[], now: number, maxAge: number): string {
  const domains = byDomain(entries, 'HPKP', notes);
  notes.push('browsers no longer honour Public-Key-Pins (RFC 7469); the value serves legacy clients and report-only monitoring');
  return domains.map((d) => {
    if (d.pins.size < 2) notes.push(`${d.keys.join(', ')}: RFC 7469 requires a backup pin: clients ignore a Public-Key-Pins header with a single pin`);
    if (!d.enforce) notes.push(`${d.keys.join(', ')}: report-only: send this value in Public-Key-Pins-Report-Only`);
    const age = d.expiresAt === undefined ? maxAge : Math.max(0, Math.floor((d.expiresAt - now) / 1000));
    const parts = [...[...d.pins].map((p) => `pin-sha256="${p}"`), `max-age=${age}`];
    if (d.includeSubdomains) parts.push('includeSubdomains');
    if (d.reportUri !== undefined) parts.push(`report-uri="${d.reportUri}"`);
    return `${d.domain}\t${parts.join('; ')}\n`;
  }).join('');
}

/**
 * Writes the trusted pins (`active` and `backup`) of a policy in another pinning system's syntax:
 * - `okhttp`: Kotlin code building OkHttp's `CertificatePinner` (`*.` and `**.` patterns as they are);
 * - `android`: a `network_security_config.xml` (pin-set expiration from `expires`);
 * - `trustkit`: a Swift dictionary literal for `TrustKit.initSharedInstance(withConfiguration:)`, using
 *   TrustKit's `kTSK…` constants (for Objective-C, the same keys go in an `NSDictionary` literal);
 * - `curl`: per entry, the pattern, a tab, and the `--pinnedpubkey` value (`sha256//A;sha256//B`);
 * - `hpkp`: per entry, the domain, a tab, and the `Public-Key-Pins` header value (max-age from
 *   `expires`, else 60 days).
 * Android, TrustKit and HPKP cannot say "exactly one label", so `*.x` becomes `x` with subdomains; that
 * and everything else a format cannot express are in `notes`. Pin sets past `expires` are left out.
 *
 * @example
 * ```js
 * import { exportPins } from 'certpin'
 * const { text, notes } = exportPins(JSON.parse(readFileSync('pins.json', 'utf8')), 'android')
 * writeFileSync('app/src/main/res/xml/network_security_config.xml', text)
 * notes.forEach((n) => console.error(n))
 * ```
 */
export function exportPins(config: PolicyConfig, format: ExportFormat, options: ExportOptions = {}): ExportResult {
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new TypeError(`unknown export format ${JSON.stringify(format)}; use one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const maxAge = options.maxAge ?? 60 * 24 * 60 * 60;
  if (!Number.isInteger(maxAge) || maxAge < 0) throw new TypeError(`maxAge must be a whole number of seconds, got ${JSON.stringify(options.maxAge)}`);
  const notes: string[] = [];
  const entries = entriesOf(config, options, notes);
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  switch (format) {
    case 'okhttp':
      return { text: okhttp(entries, notes), notes };
    case 'android':
      return { text: android(entries, notes), notes };
    case 'trustkit':
      return { text: trustkit(entries, notes), notes };
    case 'curl':
      return { text: curl(entries, notes), notes };
    case 'hpkp':
      return { text: hpkp(entries, notes, now, maxAge), notes };
  }
}
