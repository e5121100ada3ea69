import { CertpinError } from '../errors.js';
import { CONFIG_KEYS, findUnknownKeys, isAnnotation, validateConfig, type HostRule, type PinRecord, type PolicyConfig } from '../policy/config.js';
import { HostIndex, parseHostPattern } from '../policy/hosts.js';
import { parsePin } from '../policy/pin.js';
import type { ChainEntry, InspectResult } from '../probe/inspect.js';
import { parsePinFile, readPinFileText } from '../pinfile/store.js';
import { probeEntries, type ProbeEntriesOptions } from './probe-entries.js';

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

/** Where an `expires` date stands: soon is within EXPIRES_SOON_DAYS, when the host is about to run unpinned. */
type ExpiryPhase = 'past' | 'soon' | 'later';

function expiryPhase(at: number, now: number): ExpiryPhase {
  if (at < now) return 'past';
  return at < now + EXPIRES_SOON_DAYS * DAY_MS ? 'soon' : 'later';
}

/** What the rules of one entry read, computed once from the entry and the lint options. @internal */
export interface EntryContext {
  readonly key: string;
  readonly rule: HostRule;
  /** The pin file's path, as the fixes quote it. */
  readonly configPath: string;
  readonly now: number;
  readonly maxExpiresDays: number;
  /** When the pins expire, and how that date stands against `now`; undefined without `expires`. */
  readonly expiry: { readonly at: number; readonly phase: ExpiryPhase } | undefined;
  /** The fix that pins an offline backup key for this entry. */
  readonly keygenCommand: string;
  /** What the entry's live probe found, when `live` was given and probed it. */
  readonly live: InspectResult | undefined;
  /** The live chain, only when the probe proved one: an unproven chain says nothing about the pins. */
  readonly liveChain: readonly ChainEntry[] | undefined;
  readonly holdsBackup: boolean;
}

/** A finding of a rule, before the entry's key, rule id and severity are added. @internal */
export interface RuleProblem {
  readonly message: string;
  readonly fix: string;
}

/** One rule on a valid entry: `check` returns a problem per thing it finds wrong, none when the entry passes. @internal */
export interface EntryRule {
  readonly id: LintRule;
  readonly severity: LintSeverity;
  check(entry: EntryContext): RuleProblem[];
}

/** The context of an entry whose fields validated (as `validateConfig` returned its rule). @internal */
export function entryContext(rule: HostRule, options: LintOptions, now: number): EntryContext {
  const configPath = options.configPath ?? 'pins.json';
  const live = options.live?.get(rule.key) ?? undefined;
  return {
    key: rule.key,
    rule,
    configPath,
    now,
    maxExpiresDays: options.maxExpiresDays ?? 366,
    expiry: rule.expiresAt === undefined ? undefined : { at: rule.expiresAt, phase: expiryPhase(rule.expiresAt, now) },
    keygenCommand: `certpin keygen --type ec-p256 --out backup.key --config ${configPath} --host ${rule.key}`,
    live,
    liveChain: live?.trusted ? live.chain : undefined,
    holdsBackup: rule.pins.some((p) => p.status === 'backup'),
  };
}

/** A suggested `expires`, half a year ahead. */
const suggestedExpiry = (now: number): string => isoDate(now + 180 * DAY_MS);

/**
 * The rules on a valid entry, in the order their findings are listed. The four backup rules exclude
 * each other (each names the first thing to fix), and so do the two live rules and the three expiry rules.
 * @internal
 */
export const ENTRY_RULES: readonly EntryRule[] = [
  {
    id: 'no-trusted-pin',
    severity: 'warning',
    check: ({ key, rule, configPath, keygenCommand }) => {
      // Only pending_review, rejected or expired pins (or none): nothing can match.
      if (rule.trustedPins.length > 0) return [];
      const effect = rule.enforce
        ? `every connection to ${key} is refused (unless another entry covering it has trusted pins)`
        : `no connection to ${key} can match, and as a report-only host it goes ahead anyway: it runs unpinned`;
      const untrusted = rule.pins.length === 0 ? 'no pins' : `only ${[...new Set(rule.pins.map((p) => p.status))].join('/')} pins`;
      return [{
        message: `${key} has ${untrusted}, none of them trusted (only active and backup are): ${effect}`,
        fix: `approve the pin the server uses (\`certpin approve ${key} PIN --config ${configPath}\`) and pin a backup key: ${keygenCommand}`,
      }];
    },
  },
  {
    id: 'too-few-pins',
    severity: 'warning',
    check: ({ key, rule, keygenCommand }) => rule.trustedPins.length !== 1 ? [] : [{
      message: `${key} has only one trusted pin; one key change (a renewal with a new key, a new CA, a compromise) locks clients out`,
      fix: `generate an offline backup key and pin it: ${keygenCommand}`,
    }],
  },
  {
    id: 'no-pin-outside-chain',
    severity: 'warning',
    check: ({ key, rule, liveChain, keygenCommand }) => {
      if (rule.trustedPins.length < 2 || liveChain === undefined) return [];
      const inChain = new Set(liveChain.map((e) => e.pin));
      return !rule.trustedPins.every((pin) => inChain.has(pin)) ? [] : [{
        message: `every trusted pin of ${key} is in its live chain: if those keys change or leak, no pin is left to fall back on`,
        fix: `add a pin for a key the live chain does not use: ${keygenCommand}`,
      }];
    },
  },
  {
    id: 'no-backup',
    severity: 'warning',
    // With a live chain, no-pin-outside-chain asks the real question: is some trusted pin off the chain.
    check: ({ key, rule, liveChain, holdsBackup, keygenCommand }) => rule.trustedPins.length < 2 || liveChain !== undefined || holdsBackup ? [] : [{
      message: `${key} has no "backup" pin: nothing to fall back on when the pinned keys change or leak`,
      fix: `generate an offline backup key and pin it: ${keygenCommand}`,
    }],
  },
  {
    id: 'live-probe-failed',
    severity: 'warning',
    check: ({ key, live }) => live === undefined || live.trusted ? [] : [{
      message: `${key}: ${live.target}: ${live.error ?? 'the chain did not pass validation'}`,
      fix: `check that ${live.target} is reachable and valid (\`certpin pins ${live.target}\`), or pass --ca/--resolve`,
    }],
  },
  {
    id: 'live-mismatch',
    severity: 'warning',
    check: ({ key, rule, live, liveChain }) => liveChain === undefined || liveChain.some((e) => rule.trustedPins.includes(e.pin)) ? [] : [{
      message: `no trusted pin of ${key} is in its live chain: pinned clients fail against it now`,
      fix: `pin a key of the live chain (\`certpin pins ${live?.target ?? key}\`) or redeploy the pinned one`,
    }],
  },
  {
    id: 'report-only',
    severity: 'info',
    check: ({ key, rule }) => {
      if (rule.enforce) return [];
      const sink = rule.reportUri === undefined ? 'only to onViolation and the certpin:violation channel (no reportUri)' : `to ${rule.reportUri}`;
      return [{
        message: `${key} is report-only ("enforce": false): a connection whose verified chain carries none of its pins still goes ahead, so the host runs unpinned; violations are reported ${sink}`,
        fix: `set "enforce": true (or remove it) once the reports show no violations`,
      }];
    },
  },
  {
    id: 'expires-past',
    severity: 'warning',
    check: ({ key, expiry, now }) => expiry?.phase !== 'past' ? [] : [{
      message: `the pins of ${key} expired on ${isoDate(expiry.at)}: they are no longer enforced and every connection runs unpinned`,
      fix: `check the pins, then move "expires" forward (at most a year, e.g. "${suggestedExpiry(now)}")`,
    }],
  },
  {
    id: 'expires-soon',
    severity: 'info',
    check: ({ key, expiry, now }) => {
      if (expiry?.phase !== 'soon') return [];
      const days = Math.floor((expiry.at - now) / DAY_MS);
      const within = days === 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`;
      return [{
        message: `the pins of ${key} expire on ${isoDate(expiry.at)}, in ${within}: after that the host runs unpinned`,
        fix: `check the pins, then move "expires" forward (e.g. "${suggestedExpiry(now)}")`,
      }];
    },
  },
  {
    id: 'expires-far',
    severity: 'warning',
    check: ({ key, expiry, now, maxExpiresDays }) => expiry?.phase !== 'later' || expiry.at <= now + maxExpiresDays * DAY_MS ? [] : [{
      message: `the pins of ${key} expire on ${isoDate(expiry.at)}, more than ${maxExpiresDays} days away: clients that cannot be updated stay pinned that long`,
      fix: `set "expires" within a year, e.g. "${suggestedExpiry(now)}", and extend it as you rotate`,
    }],
  },
  {
    id: 'leaf-pin',
    severity: 'warning',
    check: ({ key, rule, liveChain, holdsBackup }) => {
      if (holdsBackup) return [];
      const leafRole = new Set(liveChain?.filter((e) => e.role === 'leaf').map((e) => e.pin));
      const isLeafKey = (record: PinRecord): boolean => {
        const named = subjectNamesAHost(record.subject);
        return leafRole.has(record.pin) || (named !== undefined && coversName(rule, named));
      };
      return rule.pins.filter((record) => (record.status === 'active' || record.status === 'backup') && isLeafKey(record)).map((record) => ({
        message: `${key} pins the server's own certificate key ${record.pin}${typeof record.subject === 'string' ? ` (${record.subject})` : ''}, and no backup key is held for it: a server you do not run can change that key at any renewal`,
        fix: `pin its issuing CA instead (settings.pinLevel "intermediate", then \`certpin init ${key}\`), or add a backup key if you run the server`,
      }));
    },
  },
  {
    id: 'public-suffix',
    severity: 'warning',
    check: ({ key, rule }) => {
      const { base, kind, text } = rule.pattern;
      if (!isPublicSuffix(base) || (kind === 'exact' && !rule.includeSubdomains)) return [];
      return [{
        message: `${key}: ${kind === 'exact' ? 'includeSubdomains' : `the pattern ${text}`} covers every site under the public suffix "${base}", most of them not yours`,
        fix: `pin the domains you mean, e.g. "**.example.${base}", and drop ${kind === 'exact' ? 'includeSubdomains' : 'the wildcard'}`,
      }];
    },
  },
];

/**
 * Reads an entry as the policy would: each pin that does not parse is a malformed-pin finding (and
 * left out), and a field that does not validate an invalid-entry one. `rule` is what the ENTRY_RULES
 * check, absent when the entry cannot be read.
 */
function readEntry(key: string, value: unknown): { findings: LintFinding[]; rule?: HostRule } {
  const invalidEntry = (message: string, fix: string): LintFinding => ({ host: key, rule: 'invalid-entry', severity: 'warning', message, fix });
  if (!isObject(value) || !Array.isArray(value.pins)) {
    return { findings: [invalidEntry(`${key}: expected an object with a "pins" array`, `give ${key} a "pins" array of sha256/ pins, or remove the entry`)] };
  }
  const findings: LintFinding[] = [];
  const wellFormed = value.pins.filter((entry, i) => {
    try {
      parsePin((typeof entry === 'string' ? entry : isObject(entry) ? entry.pin : entry) as string);
      return true;
    } catch (error) {
      findings.push({
        host: key, rule: 'malformed-pin', severity: 'warning', message: `${key}: pins[${i}]: ${(error as Error).message}`,
        fix: 'replace it with the sha256/ pin of the key (`certpin pins HOST|FILE` prints it), or remove it',
      });
      return false;
    }
  });
  try {
    const [rule] = validateConfig({ hosts: { [key]: { ...value, pins: wellFormed } } }).rules as [HostRule];
    return { findings, rule };
  } catch (error) {
    const message = (error as Error).message.replace(/^hosts\[("[^"]*")\]/, (_m, k: string) => JSON.parse(k) as string);
    findings.push(invalidEntry(message, 'correct the field named above (see the pin file schema)'));
    return { findings };
  }
}

function lintEntry(key: string, value: unknown, options: LintOptions, now: number): LintFinding[] {
  const { findings, rule } = readEntry(key, value);
  if (rule === undefined) return findings;
  const entry = entryContext(rule, options, now);
  for (const { id, severity, check } of ENTRY_RULES) {
    for (const { message, fix } of check(entry)) findings.push({ host: key, rule: id, severity, message, fix });
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
