import { isIP } from 'node:net';
import { CertpinError } from '../errors.js';
import { TRUSTED_STATUSES, validateConfig, type HostRule, type PinRecord, type PinStatus, type PolicyConfig, type PolicySettings } from '../policy/config.js';
import { normalizeHostname, parseHostPattern } from '../policy/hosts.js';

/**
 * The pinning systems certpin can write pins for.
 *
 * @example
 * ```js
 * for (const format of EXPORT_FORMATS) writeFileSync(`pins.${format}.txt`, exportPins(config, format).text)
 * ```
 */
export const EXPORT_FORMATS = ['okhttp', 'android', 'trustkit', 'apple', 'curl', 'hpkp'] as const;
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
 * The languages the `okhttp` export writes: the same builder calls, with Kotlin's or Java's syntax.
 *
 * @example
 * ```js
 * for (const language of OKHTTP_LANGUAGES) console.log(exportPins(config, 'okhttp', { language }).text)
 * ```
 */
export const OKHTTP_LANGUAGES = ['kotlin', 'java'] as const;

/**
 * Options of {@link exportPins}.
 *
 * @example
 * ```js
 * exportPins(config, 'hpkp', { host: 'api.example.com', maxAge: 30 * 24 * 3600 })
 * exportPins(config, 'okhttp', { okhttpVersion: '3.14.9', language: 'java' })
 * ```
 */
export interface ExportOptions {
  /** Only the entry for this host (its pattern as written, or a host name the entries match). */
  host?: string | undefined;
  /** The clock, for HPKP's max-age and for skipping pin sets past `expires`. @default Date.now() */
  now?: Date | number | undefined;
  /** HPKP max-age, in seconds, for entries without `expires`. @default 5184000 (60 days, RFC 7469 15.2) */
  maxAge?: number | undefined;
  /**
   * `okhttp` only: the OkHttp version of the app (`3.14.9`, `4.2`, `5`). `**.` patterns need OkHttp
   * 4.3.0; older versions read `**.x` as a host name that never matches, so below 4.3 the export uses
   * only exact names and `*.` and says on stderr what that cannot express.
   * @default '4.3'
   */
  okhttpVersion?: string | undefined;
  /** `okhttp` only: write Kotlin or Java. @default 'kotlin' */
  language?: (typeof OKHTTP_LANGUAGES)[number] | undefined;
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

/**
 * Which certificate of the chain a pin is the key of, as far as the pin file tells:
 * - a pin that `certpin keygen` added (its note begins `certpin keygen`) is a key made for the
 *   server's own next certificate: `leaf`;
 * - a pin with a recorded `subject` was recorded by `init` or `rotate` from a verified chain at
 *   `settings.pinLevel`: `leaf` at pinLevel `leaf`, else a CA (`intermediate` or `root`);
 * - anything else (a bare pin string, `certpin add`) is `unknown`.
 */
type PinCertificate = 'leaf' | 'ca' | 'unknown';

interface ExportPin {
  /** Base64 of the SPKI hash, as every target but OkHttp and curl writes it. */
  readonly b64: string;
  readonly pin: string;
  readonly status: PinStatus;
  readonly certificate: PinCertificate;
  /** Why certpin takes the pin for that certificate, for the notes. */
  readonly why: string;
}

/** One entry as the exports see it: its trusted pins, and the domain when a `*.x` pattern is widened. */
interface ExportEntry {
  readonly rule: HostRule;
  readonly pins: readonly ExportPin[];
  /** The pattern's domain and whether subdomains are included, for formats without `*.` patterns. */
  readonly domain: string;
  readonly includeSubdomains: boolean;
  readonly widened: boolean;
}

const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;
const isoDate = (at: number) => new Date(at).toISOString().slice(0, 10);
/** The first midnight UTC at or after `at`. */
const ceilDay = (at: number) => Math.ceil(at / DAY) * DAY;
/** certpin's own end of enforcement, as a person reads it: a bare date means the end of that day, UTC. */
const describeEnd = (at: number) => ((at + 1) % DAY === 0 ? `the end of ${isoDate(at)} UTC` : new Date(at).toISOString());
const keysOf = (keys: readonly string[]) => keys.join(' and ');

function certificateOf(record: PinRecord, pinLevel: NonNullable<PolicySettings['pinLevel']>): { certificate: PinCertificate; why: string } {
  if (typeof record.note === 'string' && record.note.startsWith('certpin keygen')) {
    return { certificate: 'leaf', why: 'a key made by certpin keygen for the server\'s own certificate' };
  }
  if (typeof record.subject === 'string' && record.subject !== '') {
    return { certificate: pinLevel === 'leaf' ? 'leaf' : 'ca', why: `recorded at pinLevel ${pinLevel} (${record.subject})` };
  }
  return { certificate: 'unknown', why: 'the pin file does not record which certificate of the chain it is the key of' };
}

function entriesOf(config: PolicyConfig, options: ExportOptions, notes: string[], now: number): { entries: ExportEntry[]; pinLevel: NonNullable<PolicySettings['pinLevel']> } {
  const { rules, index, pinLevel } = validateConfig(config);
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
    const pins = new Map<string, ExportPin>();
    for (const record of rule.pins) {
      if (!TRUSTED_STATUSES.has(record.status) || pins.has(record.pin)) continue;
      pins.set(record.pin, { b64: record.pin.slice('sha256/'.length), pin: record.pin, status: record.status, ...certificateOf(record, pinLevel) });
    }
    entries.push({
      rule,
      pins: [...pins.values()],
      domain: rule.pattern.base,
      includeSubdomains: rule.pattern.kind !== 'exact' || rule.includeSubdomains,
      widened: rule.pattern.kind === 'one-label',
    });
  }
  return { entries, pinLevel };
}

function noteWidened(entries: readonly ExportEntry[], format: string, notes: string[]): void {
  for (const e of entries) {
    if (e.widened) notes.push(`${e.rule.key}: ${format} cannot say "exactly one label": widened to ${e.domain} with all its subdomains (${e.domain} itself included)`);
  }
}

function noteNoExpiry(entries: readonly ExportEntry[], format: string, notes: string[]): void {
  for (const e of entries) {
    if (e.rule.expiresAt !== undefined) notes.push(`${e.rule.key}: ${format} has no pin expiry: these pins stay enforced after ${isoDate(e.rule.expiresAt)} until the client is updated`);
  }
}

function skipReportOnly(entries: readonly ExportEntry[], format: string, notes: string[]): ExportEntry[] {
  return entries.filter((e) => {
    if (e.rule.enforce) return true;
    notes.push(`${e.rule.key}: left out: it is report-only (enforce: false), which ${format} cannot express`);
    return false;
  });
}

/** Leaves out the entries whose domain `refuse` gives a reason for, with that reason as the note. */
function skipDomains(entries: readonly ExportEntry[], notes: string[], refuse: (domain: string) => string | undefined): ExportEntry[] {
  return entries.filter((e) => {
    const why = refuse(e.domain);
    if (why !== undefined) notes.push(`${e.rule.key}: left out: ${why}`);
    return why === undefined;
  });
}

/** A domain of the formats without `*.` patterns, after widening: entries landing on one domain merged. */
interface DomainEntry {
  readonly domain: string;
  readonly keys: string[];
  includeSubdomains: boolean;
  readonly pins: Map<string, ExportPin>;
  expiresAt: number | undefined;
  enforce: boolean;
  reportUri: string | undefined;
}

/**
 * Android refuses a domain listed in two domain-configs, and a Swift dictionary or a property list
 * cannot hold one key twice, so entries that land on the same domain (`x` and a widened `*.x`) are
 * merged: the union of their pins (as certpin applies when both patterns match), enforced if either
 * is, and pinned until the later expiry (none if either has none).
 */
function byDomain(entries: readonly ExportEntry[], format: string, notes: string[]): DomainEntry[] {
  const domains = new Map<string, DomainEntry>();
  for (const e of entries) {
    const merged = domains.get(e.domain);
    if (merged === undefined) {
      domains.set(e.domain, {
        domain: e.domain, keys: [e.rule.key], includeSubdomains: e.includeSubdomains, pins: new Map(e.pins.map((p) => [p.b64, p])),
        expiresAt: e.rule.expiresAt, enforce: e.rule.enforce, reportUri: e.rule.reportUri,
      });
      continue;
    }
    merged.keys.push(e.rule.key);
    merged.includeSubdomains ||= e.includeSubdomains;
    for (const p of e.pins) if (!merged.pins.has(p.b64)) merged.pins.set(p.b64, p);
    merged.expiresAt = merged.expiresAt === undefined || e.rule.expiresAt === undefined ? undefined : Math.max(merged.expiresAt, e.rule.expiresAt);
    merged.enforce ||= e.rule.enforce;
    merged.reportUri ??= e.rule.reportUri;
  }
  for (const d of domains.values()) {
    if (d.keys.length > 1) notes.push(`${keysOf(d.keys)}: merged into one ${format} entry for ${d.domain}, with the pins of both`);
  }
  return [...domains.values()];
}

/** `4.3.0`, `3.14`, `5`, `5.0.0-alpha.14`: [major, minor]. */
function parseOkhttpVersion(text: string): [number, number] {
  const match = /^(\d+)(?:\.(\d+))?(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?$/.exec(text);
  if (match === null) throw new TypeError(`okhttpVersion must be an OkHttp version such as 3.14.9 or 4.12.0, got ${JSON.stringify(text)}`);
  return [Number(match[1]), Number(match[2] ?? 0)];
}

function okhttp(entries: ExportEntry[], notes: string[], options: ExportOptions): string {
  const [major, minor] = parseOkhttpVersion(options.okhttpVersion ?? '4.3');
  // `**.` arrived in OkHttp 4.3.0 (CHANGELOG, 2019-12-31); before it `**.x` is taken as a literal host
  // name that no connection has, so the hosts it means would silently run unpinned.
  const anyLabels = major > 4 || (major === 4 && minor >= 3);
  const java = (options.language ?? 'kotlin') === 'java';
  // Kotlin would expand `$` in a string; host names and base64 pins never hold one, nor a non-ASCII
  // character, so these literals read the same in both languages.
  const quote = (text: string) => (java ? JSON.stringify(text) : JSON.stringify(text).replace(/\$/g, '\\$'));
  const kept = skipReportOnly(entries, 'OkHttp', notes);
  noteNoExpiry(kept, 'OkHttp', notes);
  const adds: string[] = [];
  let needsAnyLabels = false;
  for (const e of kept) {
    const pins = e.pins.map((p) => quote(p.pin)).join(', ');
    adds.push(`    .add(${quote(e.rule.pattern.text)}, ${pins})`);
    const subdomains = e.rule.pattern.kind === 'any-labels' || e.rule.includeSubdomains;
    if (!subdomains) continue;
    if (anyLabels) {
      // OkHttp's `**.x` also matches `x` itself, like certpin's `includeSubdomains`.
      if (e.rule.pattern.kind !== 'any-labels') adds.push(`    .add(${quote(`**.${e.domain}`)}, ${pins})`);
      needsAnyLabels = true;
      continue;
    }
    if (e.rule.pattern.kind === 'any-labels') adds[adds.length - 1] = `    .add(${quote(e.domain)}, ${pins})`;
    adds.push(`    .add(${quote(`*.${e.domain}`)}, ${pins})`);
    notes.push(`${e.rule.key}: OkHttp ${options.okhttpVersion} has no "**." pattern (it arrived in 4.3.0): pinned as ${e.domain} and *.${e.domain}; names two or more labels below ${e.domain} (a.b.${e.domain}) cannot be expressed and stay unpinned there`);
  }
  if (needsAnyLabels) notes.push('OkHttp: this export needs OkHttp 4.3.0 or later ("**." patterns); OkHttp 3.x and 4.0-4.2 read "**.x" as a host name that never matches, leaving those hosts unpinned: for them, export with --okhttp-version');
  const header = needsAnyLabels ? '// certpin export: needs OkHttp 4.3.0 or later (**. patterns)' : `// certpin export: OkHttp CertificatePinner${anyLabels ? '' : ` for OkHttp ${options.okhttpVersion} (exact names and *. only)`}`;
  const head = java ? 'CertificatePinner certificatePinner = new CertificatePinner.Builder()' : 'val certificatePinner = CertificatePinner.Builder()';
  return `${[header, head, ...adds, java ? '    .build();' : '    .build()'].join('\n')}\n`;
}

const xmlEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The widest offsets from UTC in use: UTC-12 (Baker Island) and UTC+14 (Line Islands). */
const WEST = -12 * HOUR;
const EAST = 14 * HOUR;

function android(entries: ExportEntry[], notes: string[]): string {
  const lines = ['<?xml version="1.0" encoding="utf-8"?>', '<network-security-config>'];
  const kept = skipReportOnly(entries, 'Android', notes);
  noteWidened(kept, 'Android', notes);
  for (const d of byDomain(kept, 'Android', notes)) {
    let expiration: string | undefined;
    if (d.expiresAt !== undefined) {
      // Android parses `expiration` with SimpleDateFormat("yyyy-MM-dd") in the device's time zone and
      // stops enforcing at that local midnight. The first date whose midnight, even at UTC+14, comes
      // no earlier than certpin's end keeps the pins enforced at least as long in every zone.
      const midnight = ceilDay(d.expiresAt + EAST);
      expiration = isoDate(midnight);
      const least = Math.round((midnight - EAST - d.expiresAt) / HOUR);
      const most = Math.round((midnight - WEST - d.expiresAt) / HOUR);
      notes.push(`${keysOf(d.keys)}: Android ends a pin-set at 00:00 device-local time of its expiration date: exported expiration="${expiration}" so the pins hold at least until certpin's end (${describeEnd(d.expiresAt)}) in every time zone from UTC-12 to UTC+14; Android then enforces them ${least} to ${most} hours longer than certpin, depending on the device's time zone`);
    }
    lines.push('    <domain-config>');
    lines.push(`        <domain includeSubdomains="${d.includeSubdomains}">${xmlEscape(d.domain)}</domain>`);
    lines.push(expiration === undefined ? '        <pin-set>' : `        <pin-set expiration="${expiration}">`);
    for (const pin of d.pins.keys()) lines.push(`            <pin digest="SHA-256">${xmlEscape(pin)}</pin>`);
    lines.push('        </pin-set>');
    lines.push('    </domain-config>');
  }
  lines.push('</network-security-config>');
  return `${lines.join('\n')}\n`;
}

function trustkit(entries: ExportEntry[], notes: string[]): string {
  // TrustKit raises "invalid domain" at initialisation for a name without a registry (GetRegistryLength
  // is 0): an IP address or a single label.
  const kept = skipDomains(entries, notes, (domain) =>
    isIP(domain) !== 0 ? 'TrustKit refuses an IP address as a pinned domain' : domain.includes('.') ? undefined : 'TrustKit refuses a domain without a registry (a single label)',
  );
  noteWidened(kept, 'TrustKit', notes);
  const lines = ['let trustKitConfig: [String: Any] = [', '    kTSKSwizzleNetworkDelegates: false,', '    kTSKPinnedDomains: ['];
  for (const d of byDomain(kept, 'TrustKit', notes)) {
    // TrustKit's own rule (parse_configuration.m): two pins when enforcing, one when report-only.
    if (d.enforce && d.pins.size < 2) notes.push(`${keysOf(d.keys)}: TrustKit refuses an enforced domain with fewer than two pins: add a backup pin (certpin keygen)`);
    lines.push(`        ${JSON.stringify(d.domain)}: [`);
    lines.push(`            kTSKEnforcePinning: ${d.enforce},`);
    lines.push(`            kTSKIncludeSubdomains: ${d.includeSubdomains},`);
    if (d.expiresAt !== undefined) {
      // TrustKit reads kTSKExpirationDate as 00:00 UTC of that date and stops enforcing after it: the
      // next midnight UTC at or after certpin's end, so TrustKit enforces at least as long.
      const midnight = ceilDay(d.expiresAt);
      lines.push(`            kTSKExpirationDate: ${JSON.stringify(isoDate(midnight))},`);
      const longer = Math.round((midnight - d.expiresAt) / HOUR);
      notes.push(`${keysOf(d.keys)}: TrustKit ends pins at 00:00 UTC of kTSKExpirationDate: exported "${isoDate(midnight)}" so they hold until certpin's end (${describeEnd(d.expiresAt)})${longer > 0 ? `, and ${longer} hours longer` : ''}`);
    }
    // Without it, TrustKit also sends every violation report to its vendor's server (TSKTrustKitConfig.h).
    lines.push('            kTSKDisableDefaultReportUri: true,');
    if (d.reportUri !== undefined) lines.push(`            kTSKReportUris: [${JSON.stringify(d.reportUri)}],`);
    lines.push('            kTSKPublicKeyHashes: [');
    for (const pin of d.pins.keys()) lines.push(`                ${JSON.stringify(pin)},`);
    lines.push('            ],');
    lines.push('        ],');
  }
  lines.push('    ],', ']');
  return `${lines.join('\n')}\n`;
}

/**
 * App Transport Security's `NSPinnedDomains` (iOS 14+, macOS 11+), as a property list holding the
 * `NSAppTransportSecurity` dictionary to merge into Info.plist.
 */
function apple(entries: ExportEntry[], notes: string[], pinLevel: NonNullable<PolicySettings['pinLevel']>): string {
  const ATS = 'App Transport Security';
  // ATS does not apply to IP addresses, unqualified names and .local names (NSAllowsLocalNetworking):
  // pins listed for them would be ignored.
  const kept = skipDomains(skipReportOnly(entries, ATS, notes), notes, (domain) =>
    isIP(domain) !== 0 || !domain.includes('.') || domain.endsWith('.local') ? `${ATS} does not apply to IP addresses, unqualified or .local names, so it would ignore these pins` : undefined,
  );
  noteNoExpiry(kept, ATS, notes);
  for (const e of kept) {
    if (e.widened) notes.push(`${e.rule.key}: ${ATS} cannot say "exactly one label": pinned as ${e.domain} with NSIncludesSubdomains, which also pins ${e.domain} itself`);
    else if (e.includeSubdomains) notes.push(`${e.rule.key}: ${ATS}'s NSIncludesSubdomains is documented to reach names one label below ${e.domain} only: ${e.domain} and *.${e.domain} are pinned, deeper names (a.b.${e.domain}) cannot be expressed and may run unpinned there`);
  }
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '\t<key>NSAppTransportSecurity</key>',
    '\t<dict>',
    '\t\t<key>NSPinnedDomains</key>',
    '\t\t<dict>',
  ];
  const assumed: ExportPin['certificate'] = pinLevel === 'leaf' ? 'leaf' : 'ca';
  for (const d of byDomain(kept, ATS, notes)) {
    const pins = [...d.pins.values()];
    const unknown = pins.filter((p) => p.certificate === 'unknown').map((p) => p.pin);
    if (unknown.length > 0) {
      notes.push(`${keysOf(d.keys)}: ${unknown.join(', ')}: the pin file does not record which certificate ${unknown.length === 1 ? 'it is the key' : 'they are the keys'} of: exported as ${assumed === 'leaf' ? 'leaf' : 'CA'} identities, after settings.pinLevel "${pinLevel}"`);
    }
    const kind = (p: ExportPin) => (p.certificate === 'unknown' ? assumed : p.certificate);
    const cas = pins.filter((p) => kind(p) === 'ca');
    const leaves = pins.filter((p) => kind(p) === 'leaf');
    let chosen: 'ca' | 'leaf' = cas.length > 0 ? 'ca' : 'leaf';
    if (cas.length > 0 && leaves.length > 0) {
      // ATS requires a match in each list given: both lists would reject a chain that certpin accepts
      // through any one trusted pin (and, with a leaf backup key beside a CA pin, every chain today).
      // One list keeps certpin's "any one of these" among the pins of the certificate now in use.
      const activeKinds = new Set(pins.filter((p) => p.status === 'active').map(kind));
      chosen = activeKinds.size === 1 && activeKinds.has('leaf') ? 'leaf' : 'ca';
      const left = (chosen === 'ca' ? leaves : cas).map((p) => `${p.pin} (${p.why})`).join(', ');
      notes.push(`${keysOf(d.keys)}: ${ATS} requires a match in both NSPinnedCAIdentities and NSPinnedLeafIdentities when both are given, stricter than certpin's any one trusted pin: only the ${chosen === 'ca' ? 'CA' : 'leaf'} pins are exported; left out: ${left}`);
    }
    lines.push(`\t\t\t<key>${xmlEscape(d.domain)}</key>`, '\t\t\t<dict>');
    lines.push('\t\t\t\t<key>NSIncludesSubdomains</key>', `\t\t\t\t<${d.includeSubdomains}/>`);
    lines.push(`\t\t\t\t<key>${chosen === 'ca' ? 'NSPinnedCAIdentities' : 'NSPinnedLeafIdentities'}</key>`, '\t\t\t\t<array>');
    for (const p of chosen === 'ca' ? cas : leaves) {
      lines.push('\t\t\t\t\t<dict>', '\t\t\t\t\t\t<key>SPKI-SHA256-BASE64</key>', `\t\t\t\t\t\t<string>${xmlEscape(p.b64)}</string>`, '\t\t\t\t\t</dict>');
    }
    lines.push('\t\t\t\t</array>', '\t\t\t</dict>');
  }
  lines.push('\t\t</dict>', '\t</dict>', '</dict>', '</plist>');
  return `${lines.join('\n')}\n`;
}

function curl(entries: ExportEntry[], notes: string[]): string {
  const kept = skipReportOnly(entries, 'curl', notes);
  notes.push('curl --pinnedpubkey checks only the server\'s own (leaf) key, never an intermediate or root: only leaf-key pins can match there');
  noteNoExpiry(kept, 'curl', notes);
  const lines: string[] = [];
  for (const e of kept) {
    const usable = e.pins.filter((p) => p.certificate !== 'ca');
    for (const p of e.pins) {
      if (p.certificate === 'ca') notes.push(`${e.rule.key}: left out ${p.pin}: ${p.why}, the key of a CA, which curl never matches`);
    }
    // A CA pin among them would only never match; leaving out a leaf key would break curl the day the
    // server switches to it. So pins of an unknown certificate stay, said once.
    const unknown = e.pins.filter((p) => p.certificate === 'unknown').map((p) => p.pin);
    if (unknown.length > 0) notes.push(`${e.rule.key}: kept ${unknown.join(', ')}: the pin file does not record which certificate ${unknown.length === 1 ? 'it is the key' : 'they are the keys'} of; curl matches only the server's own key`);
    if (usable.length === 0) {
      notes.push(`${e.rule.key}: left out: none of its pins is the key of the server's own certificate, so curl could never connect with them`);
      continue;
    }
    lines.push(`${e.rule.pattern.text}\t${usable.map((p) => `sha256//${p.b64}`).join(';')}\n`);
  }
  return lines.join('');
}

function hpkp(entries: ExportEntry[], notes: string[], now: number, maxAge: number): string {
  noteWidened(entries, 'HPKP', notes);
  const domains = byDomain(entries, 'HPKP', notes);
  notes.push('browsers no longer honour Public-Key-Pins (RFC 7469); the value serves legacy clients and report-only monitoring');
  return domains.map((d) => {
    if (d.pins.size < 2) notes.push(`${keysOf(d.keys)}: RFC 7469 requires a backup pin: clients ignore a Public-Key-Pins header with a single pin`);
    if (!d.enforce) notes.push(`${keysOf(d.keys)}: report-only: send this value in Public-Key-Pins-Report-Only`);
    const age = d.expiresAt === undefined ? maxAge : Math.max(0, Math.floor((d.expiresAt - now) / 1000));
    const parts = [...[...d.pins.keys()].map((p) => `pin-sha256="${p}"`), `max-age=${age}`];
    if (d.includeSubdomains) parts.push('includeSubdomains');
    if (d.reportUri !== undefined) parts.push(`report-uri="${d.reportUri}"`);
    return `${d.domain}\t${parts.join('; ')}\n`;
  }).join('');
}

/**
 * Writes the trusted pins (`active` and `backup`) of a policy in another pinning system's syntax:
 * - `okhttp`: Kotlin (or, with `language: 'java'`, Java) code building OkHttp's `CertificatePinner`;
 *   `*.` and `**.` patterns as they are, which needs OkHttp 4.3.0; with an older `okhttpVersion`,
 *   exact names and `*.` only;
 * - `android`: a `network_security_config.xml` (pin-set expiration from `expires`);
 * - `trustkit`: a Swift dictionary literal for `TrustKit.initSharedInstance(withConfiguration:)`, using
 *   TrustKit's `kTSK…` constants (for Objective-C, the same keys go in an `NSDictionary` literal);
 * - `apple`: App Transport Security's `NSPinnedDomains` as a property list to merge into Info.plist,
 *   each pin under `NSPinnedCAIdentities` or `NSPinnedLeafIdentities` by the certificate it is the key of;
 * - `curl`: per entry, the pattern, a tab, and the `--pinnedpubkey` value (`sha256//A;sha256//B`),
 *   with only the pins curl can match (the server's own key);
 * - `hpkp`: per entry, the domain, a tab, and the `Public-Key-Pins` header value (max-age from
 *   `expires`, else 60 days).
 * Where a format cannot say what certpin means (exactly one label, report-only, an expiry, a CA pin for
 * curl), the export is never weaker in silence: what it widened, left out or cannot say is in `notes`.
 * Pin sets past `expires` are left out.
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
  if (format !== 'okhttp' && (options.okhttpVersion !== undefined || options.language !== undefined)) {
    throw new TypeError(`okhttpVersion and language apply to the okhttp format only, not ${format}`);
  }
  if (options.language !== undefined && !(OKHTTP_LANGUAGES as readonly string[]).includes(options.language)) {
    throw new TypeError(`language must be one of ${OKHTTP_LANGUAGES.join(', ')}, got ${JSON.stringify(options.language)}`);
  }
  if (options.okhttpVersion !== undefined) parseOkhttpVersion(options.okhttpVersion);
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  const notes: string[] = [];
  const { entries, pinLevel } = entriesOf(config, options, notes, now);
  switch (format) {
    case 'okhttp':
      return { text: okhttp(entries, notes, options), notes };
    case 'android':
      return { text: android(entries, notes), notes };
    case 'trustkit':
      return { text: trustkit(entries, notes), notes };
    case 'apple':
      return { text: apple(entries, notes, pinLevel), notes };
    case 'curl':
      return { text: curl(entries, notes), notes };
    case 'hpkp':
      return { text: hpkp(entries, notes, now, maxAge), notes };
  }
}
