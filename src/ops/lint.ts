import { CertpinError } from '../errors.js';
import { CONFIG_KEYS, findUnknownKeys, isAnnotation, validateConfig, type HostRule, type PolicyConfig } from '../policy/config.js';
import { HostIndex, parseHostPattern } from '../policy/hosts.js';
import { parsePin } from '../policy/pin.js';
import type { InspectResult } from '../probe/inspect.js';
import { parsePinFile, readPinFileText } from '../pinfile/store.js';
import { probeEntries, type ProbeEntriesOptions } from './round.js';

/**
 * The lint rules; `certpin help lint` describes each.
 *
 * @example
 * ```js
 * const blocking = lintPolicy(config).filter((f) => f.rule !== 'expires-far')
 * ```
 */
export type LintRule =
  | 'unknown-key'
  | 'invalid-entry'
  | 'no-trusted-pin'
  | 'report-only'
  | 'malformed-pin'
  | 'too-few-pins'
  | 'no-backup'
  | 'no-pin-outside-chain'
  | 'live-mismatch'
  | 'live-probe-failed'
  | 'expires-past'
  | 'expires-soon'
  | 'expires-far'
  | 'leaf-pin'
  | 'public-suffix';

/**
 * How much a {@link LintFinding} matters.
 *
 * @example
 * ```js
 * const mistakes = findings.filter((f) => f.severity === 'warning')
 * ```
 */
export type LintSeverity = 'warning' | 'info';

/**
 * One problem in a pin file, with the fix in one line.
 *
 * @example
 * ```js
 * for (const f of await lintPinFile('pins.json')) console.log(`${f.host ?? 'file'} [${f.rule}] ${f.message}\n  fix: ${f.fix}`)
 * ```
 */
export interface LintFinding {
  /** The host entry's key, or null for the file as a whole. */
  host: string | null;
  rule: LintRule;
  /**
   * `warning`: a mistake to fix (`certpin lint` exits 1); `info`: a deliberate setting worth knowing,
   * such as a report-only host, which runs unpinned by design (exit 0 when only these are found).
   */
  severity: LintSeverity;
  message: string;
  fix: string;
}

/**
 * Options of {@link lintPolicy}.
 *
 * @example
 * ```js
 * lintPolicy(config, { now: new Date('2027-01-01'), maxExpiresDays: 180, configPath: 'config/pins.json' })
 * ```
 */
export interface LintOptions {
  /** The clock, for the expiry rules. @default Date.now() */
  now?: Date | number;
  /** An `expires` further away than this is reported. @default 366 */
  maxExpiresDays?: number;
  /** The pin file's path, quoted in the fixes (`certpin keygen … --config PATH`). @default 'pins.json' */
  configPath?: string;
  /**
   * What each entry's live probe found (by entry key). With it, the backup rule checks that some trusted
   * pin lies outside the live chain, and leaf pins are known by their role.
   */
  live?: ReadonlyMap<string, InspectResult | null>;
}

/**
 * Common public suffixes: an `includeSubdomains`, `*.` or `**.` entry on one of them pins sites of
 * countless unrelated owners. A small built-in list, not the Public Suffix List: every single-label
 * name (a top-level domain) counts too, and so do these well-known second-level and hosting suffixes.
 */
export const PUBLIC_SUFFIXES: ReadonlySet<string> = new Set([
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'me.uk', 'ltd.uk', 'plc.uk', 'net.uk',
  'com.au', 'net.au', 'org.au', 'edu.au', 'gov.au', 'co.nz', 'org.nz', 'co.jp', 'ne.jp', 'or.jp', 'ac.jp',
  'co.kr', 'or.kr', 'com.cn', 'net.cn', 'org.cn', 'com.tw', 'com.hk', 'com.sg', 'com.my', 'co.in', 'net.in',
  'org.in', 'co.za', 'org.za', 'com.br', 'net.br', 'org.br', 'com.mx', 'com.ar', 'com.tr', 'co.il', 'com.ua',
  'github.io', 'gitlab.io', 'githubusercontent.com', 'herokuapp.com', 'appspot.com', 'cloudfront.net',
  'amazonaws.com', 's3.amazonaws.com', 'elasticbeanstalk.com', 'azurewebsites.net', 'cloudapp.net',
  'blob.core.windows.net', 'web.app', 'firebaseapp.com', 'netlify.app', 'vercel.app', 'pages.dev',
  'workers.dev', 'fly.dev', 'onrender.com', 'blogspot.com', 'ngrok.io', 'ngrok-free.app', 'duckdns.org',
  'dyndns.org', 'no-ip.org', 'glitch.me', 'repl.co', 'surge.sh', 'readthedocs.io',
]);

/**
 * Whether a (normalised) domain is a public suffix by certpin's built-in list: any top-level domain,
 * or one of {@link PUBLIC_SUFFIXES}.
 *
 * @example
 * ```js
 * isPublicSuffix('co.uk') // true
 * isPublicSuffix('example.co.uk') // false
 * ```
 */
export function isPublicSuffix(domain: string): boolean {
  return !domain.includes('.') || PUBLIC_SUFFIXES.has(domain);
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** An `expires` this close is an info finding: soon the host runs unpinned. */
const EXPIRES_SOON_DAYS = 30;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isoDate = (at: number) => new Date(at).toISOString().slice(0, 10);

/** A certificate subject whose CN is a host name (`CN=api.example.com`): CA names are not. */
function subjectNamesAHost(subject: unknown): string | undefined {
  if (typeof subject !== 'string') return undefined;
  const cn = /(?:^|,)\s*CN=([^,]+)/i.exec(subject)?.[1]?.trim().toLowerCase();
  return cn !== undefined && /^(\*\.)?([a-z0-9-]+\.)+[a-z0-9-]+$/.test(cn) ? cn : undefined;
}

function coversName(rule: HostRule, name: string): boolean {
  const index = new HostIndex<true>();
  index.add(rule.pattern, true);
  index.add({ text: `**.${rule.pattern.base}`, kind: 'any-labels', base: rule.pattern.base }, true);
  return index.lookup(name.replace(/^\*\./, '')).length > 0;
}

function lintEntry(key: string, value: unknown, options: LintOptions, now: number): LintFinding[] {
  const findings: LintFinding[] = [];
  const add = (rule: LintRule, message: string, fix: string, severity: LintSeverity = 'warning') => findings.push({ host: key, rule, severity, message, fix });
  const config = options.configPath ?? 'pins.json';
  if (!isObject(value) || !Array.isArray(value.pins)) {
    add('invalid-entry', `${key}: expected an object with a "pins" array`, `give ${key} a "pins" array of sha256/ pins, or remove the entry`);
    return findings;
  }
  const wellFormed: unknown[] = [];
  value.pins.forEach((entry, i) => {
    const text = typeof entry === 'string' ? entry : isObject(entry) ? entry.pin : entry;
    try {
      parsePin(text as string);
      wellFormed.push(entry);
    } catch (error) {
      add('malformed-pin', `${key}: pins[${i}]: ${(error as Error).message}`, `replace it with the sha256/ pin of the key (\`certpin pins HOST|FILE\` prints it), or remove it`);
    }
  });
  let rule: HostRule;
  try {
    [rule] = validateConfig({ hosts: { [key]: { ...value, pins: wellFormed } } }).rules as [HostRule];
  } catch (error) {
    add('invalid-entry', (error as Error).message.replace(/^hosts\[("[^"]*")\]/, (_m, k: string) => JSON.parse(k) as string), `correct the field named above (see the pin file schema)`);
    return findings;
  }
  const keygen = `certpin keygen --type ec-p256 --out backup.key --config ${config} --host ${key}`;
  const live = options.live?.get(key);
  const liveChain = live?.trusted ? live.chain : undefined;
  const trusted = rule.trustedPins;
  if (trusted.length === 0) {
    // Only pending_review, rejected or expired pins (or none): nothing can match.
    const effect = rule.enforce
      ? `every connection to ${key} is refused (unless another entry covering it has trusted pins)`
      : `no connection to ${key} can match, and as a report-only host it goes ahead anyway: it runs unpinned`;
    const untrusted = rule.pins.length === 0 ? 'no pins' : `only ${[...new Set(rule.pins.map((p) => p.status))].join('/')} pins`;
    add('no-trusted-pin', `${key} has ${untrusted}, none of them trusted (only active and backup are): ${effect}`, `approve the pin the server uses (\`certpin approve ${key} PIN --config ${config}\`) and pin a backup key: ${keygen}`);
  } else if (trusted.length < 2) {
    add('too-few-pins', `${key} has ${trusted.length === 0 ? 'no trusted pin' : 'only one trusted pin'}; one key change (a renewal with a new key, a new CA, a compromise) locks clients out`, `generate an offline backup key and pin it: ${keygen}`);
  } else if (liveChain) {
    const inChain = new Set(liveChain.map((e) => e.pin));
    if (trusted.every((pin) => inChain.has(pin))) {
      add('no-pin-outside-chain', `every trusted pin of ${key} is in its live chain: if those keys change or leak, no pin is left to fall back on`, `add a pin for a key the live chain does not use: ${keygen}`);
    }
  } else if (!rule.pins.some((p) => p.status === 'backup')) {
    add('no-backup', `${key} has no "backup" pin: nothing to fall back on when the pinned keys change or leak`, `generate an offline backup key and pin it: ${keygen}`);
  }
  if (live && !live.trusted) {
    add('live-probe-failed', `${key}: ${live.target}: ${live.error ?? 'the chain did not pass validation'}`, `check that ${live.target} is reachable and valid (\`certpin pins ${live.target}\`), or pass --ca/--resolve`);
  } else if (liveChain && !liveChain.some((e) => trusted.includes(e.pin))) {
    add('live-mismatch', `no trusted pin of ${key} is in its live chain: pinned clients fail against it now`, `pin a key of the live chain (\`certpin pins ${live?.target ?? key}\`) or redeploy the pinned one`);
  }
  if (!rule.enforce) {
    const sink = rule.reportUri === undefined ? 'only to onViolation and the certpin:violation channel (no reportUri)' : `to ${rule.reportUri}`;
    add('report-only', `${key} is report-only ("enforce": false): a connection whose verified chain carries none of its pins still goes ahead, so the host runs unpinned; violations are reported ${sink}`, `set "enforce": true (or remove it) once the reports show no violations`, 'info');
  }
  if (rule.expiresAt !== undefined) {
    const maxDays = options.maxExpiresDays ?? 366;
    if (rule.expiresAt < now) {
      add('expires-past', `the pins of ${key} expired on ${isoDate(rule.expiresAt)}: they are no longer enforced and every connection runs unpinned`, `check the pins, then move "expires" forward (at most a year, e.g. "${isoDate(now + 180 * DAY_MS)}")`);
    } else if (rule.expiresAt < now + EXPIRES_SOON_DAYS * DAY_MS) {
      const days = Math.floor((rule.expiresAt - now) / DAY_MS);
      add('expires-soon', `the pins of ${key} expire on ${isoDate(rule.expiresAt)}, in ${days === 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`}: after that the host runs unpinned`, `check the pins, then move "expires" forward (e.g. "${isoDate(now + 180 * DAY_MS)}")`, 'info');
    } else if (rule.expiresAt > now + maxDays * DAY_MS) {
      add('expires-far', `the pins of ${key} expire on ${isoDate(rule.expiresAt)}, more than ${maxDays} days away: clients that cannot be updated stay pinned that long`, `set "expires" within a year, e.g. "${isoDate(now + 180 * DAY_MS)}", and extend it as you rotate`);
    }
  }
  const holdsBackup = rule.pins.some((p) => p.status === 'backup');
  if (!holdsBackup) {
    const leafRole = new Set(liveChain?.filter((e) => e.role === 'leaf').map((e) => e.pin));
    for (const record of rule.pins) {
      if (record.status !== 'active' && record.status !== 'backup') continue;
      const named = subjectNamesAHost(record.subject);
      if (leafRole.has(record.pin) || (named !== undefined && coversName(rule, named))) {
        add('leaf-pin', `${key} pins the server's own certificate key ${record.pin}${typeof record.subject === 'string' ? ` (${record.subject})` : ''}, and no backup key is held for it: a server you do not run can change that key at any renewal`, `pin its issuing CA instead (settings.pinLevel "intermediate", then \`certpin init ${key}\`), or add a backup key if you run the server`);
      }
    }
  }
  const base = rule.pattern.base;
  if (isPublicSuffix(base) && (rule.pattern.kind !== 'exact' || rule.includeSubdomains)) {
    const what = rule.pattern.kind === 'exact' ? 'includeSubdomains' : `the pattern ${rule.pattern.text}`;
    add('public-suffix', `${key}: ${what} covers every site under the public suffix "${base}", most of them not yours`, `pin the domains you mean, e.g. "**.example.${base}", and drop ${rule.pattern.kind === 'exact' ? 'includeSubdomains' : 'the wildcard'}`);
  }
  return findings;
}

/**
 * Checks a policy (the pin file's parsed JSON) for mistakes that are legal but dangerous: fewer than
 * two trusted pins, no backup pin (with `live`: no trusted pin outside the live chain), malformed
 * pins, `expires` in the past, within 30 days (info) or more than a year ahead, pins of a server's own key without a backup
 * key held, and wildcards or `includeSubdomains` on a public suffix. It reports every configuration
 * that runs a pinned host unpinned: unknown keys (each one, with the nearest known key: a misspelled
 * `includeSubdomains` or `unpinned` would otherwise be ignored), `expires` already past, no trusted
 * pin at all, and report-only hosts (`enforce: false`, an `info` finding). Returns the findings, each
 * with a one-line fix; an empty array means nothing to report. Throws `ERR_CERTPIN_INVALID_CONFIG`
 * only when the document is not a pin file at all (no `hosts` object).
 *
 * @example
 * ```js
 * import { lintPolicy } from 'certpin'
 * for (const f of lintPolicy(JSON.parse(readFileSync('pins.json', 'utf8')))) console.log(`${f.host}: ${f.message}\n  fix: ${f.fix}`)
 * ```
 */
export function lintPolicy(config: unknown, options: LintOptions = {}): LintFinding[] {
  if (!isObject(config) || !isObject(config.hosts)) {
    throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${options.configPath ?? 'config'}: expected a JSON object with a "hosts" object`);
  }
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  const findings: LintFinding[] = [];
  // Every unknown key is a finding of its own; the rest of the file is then linted without them.
  for (const unknown of findUnknownKeys(config, { source: 'file' })) {
    const fix = unknown.suggestion === undefined
      ? `remove it, or rename it "x-${unknown.key}" if it is your own annotation`
      : `rename it to ${unknown.suggestion}`;
    findings.push({ host: unknown.host ?? null, rule: 'unknown-key', severity: 'warning', message: `${unknown.path}: ${unknown.message}`, fix });
  }
  const known = withKnownKeysOnly(config);
  try {
    validateConfig({ ...known, hosts: {} }, { source: 'file' });
  } catch (error) {
    findings.push({ host: null, rule: 'invalid-entry', severity: 'warning', message: (error as Error).message, fix: 'correct the field named above (see the pin file schema)' });
  }
  for (const [key, value] of Object.entries(known.hosts as Record<string, unknown>)) {
    try {
      parseHostPattern(key);
    } catch (error) {
      findings.push({ host: key, rule: 'invalid-entry', severity: 'warning', message: (error as Error).message, fix: 'use an exact host, *.domain (one label) or **.domain (any labels)' });
      continue;
    }
    findings.push(...lintEntry(key, value, options, now));
  }
  return findings;
}

/** A copy of the document with only known keys and annotations, level by level (the unknown ones are findings already). */
function withKnownKeysOnly(config: Record<string, unknown>): Record<string, unknown> {
  const keep = (value: Record<string, unknown>, known: readonly string[]): Record<string, unknown> =>
    Object.fromEntries(Object.entries(value).filter(([key]) => known.includes(key) || isAnnotation(key)));
  const top = keep(config, CONFIG_KEYS.file);
  if (isObject(top.settings)) top.settings = keep(top.settings, CONFIG_KEYS.settings);
  const hosts: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(config.hosts as Record<string, unknown>)) {
    if (!isObject(entry)) {
      hosts[key] = entry;
      continue;
    }
    const host = keep(entry, CONFIG_KEYS.host);
    if (Array.isArray(host.pins)) host.pins = host.pins.map((pin: unknown) => (isObject(pin) ? keep(pin, CONFIG_KEYS.pin) : pin));
    hosts[key] = host;
  }
  top.hosts = hosts;
  return top;
}

/**
 * Options of {@link lintPinFile}: those of {@link lintPolicy}, `live` to probe every host, and network options.
 *
 * @example
 * ```js
 * await lintPinFile('pins.json', { live: true, concurrency: 4, timeout: 5000 })
 * ```
 */
export interface LintPinFileOptions extends Omit<LintOptions, 'live' | 'configPath'>, ProbeEntriesOptions {
  /** Probe every entry and check the pins against the live chains. @default false */
  live?: boolean;
}

/**
 * Reads a pin file and lints it ({@link lintPolicy}), probing every entry first with `live: true`.
 * Throws `ERR_CERTPIN_INVALID_CONFIG` when the file is not JSON or not a pin file, and
 * `ERR_CERTPIN_INVALID_INPUT` when it cannot be read.
 *
 * @example
 * ```js
 * import { lintPinFile } from 'certpin'
 * const findings = await lintPinFile('pins.json', { live: true, timeout: 5000 })
 * process.exitCode = findings.length > 0 ? 1 : 0
 * ```
 */
export async function lintPinFile(path: string, options: LintPinFileOptions = {}): Promise<LintFinding[]> {
  const { live, now, maxExpiresDays, ...probeOptions } = options;
  const text = await readPinFileText(path);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    // JSON.parse may run out of stack on absurdly deep input: a RangeError, not a syntax error.
    const why = error instanceof RangeError ? 'nested too deeply to be a pin file' : `not valid JSON (${(error as Error).message})`;
    throw new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `${path}: ${why}`, { cause: error });
  }
  const lintOptions: LintOptions = { configPath: path };
  if (now !== undefined) lintOptions.now = now;
  if (maxExpiresDays !== undefined) lintOptions.maxExpiresDays = maxExpiresDays;
  if (live) {
    lintPolicy(document, lintOptions);
    const probes = await probeEntries(document as PolicyConfig, probeOptions);
    lintOptions.live = new Map(probes.map((p) => [p.entry, p.result]));
  }
  const findings = lintPolicy(document, lintOptions);
  if (!findings.some((f) => f.severity === 'warning')) {
    // The pin file has fields of its own (probeHost): a file lint passes must be one certpin can load.
    try {
      parsePinFile(path, text);
    } catch (error) {
      findings.push({ host: null, rule: 'invalid-entry', severity: 'warning', message: (error as Error).message, fix: 'correct the field named above (see the pin file schema)' });
    }
  }
  return findings;
}
