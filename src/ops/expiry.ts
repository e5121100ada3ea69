import { inspect, type ChainEntry, type ChainRole, type InspectOptions, type InspectResult } from '../probe/inspect.js';

/**
 * Nagios-style states: `critical` also covers an already expired certificate.
 *
 * @example
 * ```js
 * const status = worstExpiryStatus(results.map((r) => r.status)) // 'ok' | 'warning' | 'critical' | 'unknown'
 * ```
 */
export type ExpiryStatus = 'ok' | 'warning' | 'critical' | 'unknown';

/**
 * When a chain's first expiry is a warning or critical.
 *
 * @example
 * ```js
 * judgeExpiry(await inspect('server-chain.pem'), { warn: 60, critical: 14, now: new Date('2027-01-01') })
 * ```
 */
export interface ExpiryThresholds {
  /** `warning` when fewer whole days than this are left. @default 30 */
  warn?: number | undefined;
  /** `critical` when fewer whole days than this are left (or the certificate has expired). @default 7 */
  critical?: number | undefined;
  /** The clock, for reproducible results. @default Date.now() */
  now?: Date | number | undefined;
}

/**
 * The certificate of a chain that expires first, and what that means.
 *
 * @example
 * ```js
 * const result = await checkExpiry('api.example.com', { warn: 30, critical: 7 })
 * console.log(`${result.status}: ${result.subject} (${result.role}) expires ${result.notAfter}, ${result.daysLeft} days left`)
 * ```
 */
export interface ExpiryResult {
  target: string;
  host: string | null;
  port: number | null;
  status: ExpiryStatus;
  /** Whole days left until `notAfter`, rounded down; negative once expired. */
  daysLeft: number | null;
  /** ISO 8601 date-time of the earliest expiry in the chain. */
  notAfter: string | null;
  subject: string | null;
  role: ChainRole | null;
  /** Whether the chain passed standard validation (false for files, which are not validated). */
  trusted: boolean;
  /** Why the chain was not trusted or could not be read; null when all is well. */
  error: string | null;
}

/**
 * Options of {@link checkExpiry}: network options and thresholds.
 *
 * @example
 * ```js
 * await checkExpiry('api.example.com', { warn: 21, critical: 7, timeout: 5000 })
 * ```
 */
export type CheckExpiryOptions = InspectOptions & ExpiryThresholds;

/**
 * The exit code of a Nagios plugin for each state.
 *
 * @example
 * ```js
 * process.exitCode = EXPIRY_EXIT_CODES[(await checkExpiry('api.example.com')).status] // 0, 1, 2 or 3
 * ```
 */
export const EXPIRY_EXIT_CODES: Readonly<Record<ExpiryStatus, number>> = Object.freeze({ ok: 0, warning: 1, critical: 2, unknown: 3 });

const DAY_MS = 24 * 60 * 60 * 1000;
const SEVERITY: Readonly<Record<ExpiryStatus, number>> = { ok: 0, unknown: 1, warning: 2, critical: 3 };

function threshold(value: number | undefined, fallback: number, name: string): number {
  const days = value ?? fallback;
  if (typeof days !== 'number' || !Number.isFinite(days) || days < 0) {
    throw new TypeError(`${name} must be a number of days (0 or more), got ${JSON.stringify(value)}`);
  }
  return days;
}

function thresholdsOf(options: ExpiryThresholds): { warn: number; critical: number; now: number } {
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  const warn = threshold(options.warn, 30, 'warn');
  const critical = threshold(options.critical, 7, 'critical');
  // A warning threshold below the critical one could never warn: every certificate would go from OK
  // straight to CRITICAL, which is always a mistake in the command line.
  if (warn < critical) throw new TypeError(`warn (${warn} days) must not be smaller than critical (${critical} days)`);
  return { warn, critical, now };
}

/**
 * The most severe of several states, as a Nagios plugin checking several targets reports it:
 * critical > warning > unknown > ok. No states at all is `ok`.
 *
 * @example
 * ```js
 * worstExpiryStatus(['ok', 'unknown', 'warning']) // 'warning'
 * ```
 */
export function worstExpiryStatus(statuses: Iterable<ExpiryStatus>): ExpiryStatus {
  let worst: ExpiryStatus = 'ok';
  for (const status of statuses) if (SEVERITY[status] > SEVERITY[worst]) worst = status;
  return worst;
}

/**
 * Judges the expiry of an inspected chain: the earliest `notAfter` of every certificate in it (an
 * intermediate or root that expires first breaks the chain as surely as the leaf). Pure: the clock is
 * `options.now`.
 *
 * A chain that failed validation is still judged by its dates as served, so an expired certificate is
 * `critical` with its dates shown rather than a connection error. When its dates are fine, an
 * untrusted chain is `unknown`: the dates of a chain that does not validate (a missing intermediate,
 * an unknown root) say nothing about the chain clients will build.
 *
 * @example
 * ```js
 * import { inspect, judgeExpiry } from 'certpin'
 * const verdict = judgeExpiry(await inspect('server-chain.pem'), { warn: 60, critical: 14 })
 * ```
 */
export function judgeExpiry(result: InspectResult, options: ExpiryThresholds = {}): ExpiryResult {
  const { warn, critical, now } = thresholdsOf(options);
  const base = { target: result.target, host: result.host, port: result.port, trusted: result.trusted, error: result.error };
  let earliest: { entry: ChainEntry; at: number } | undefined;
  for (const entry of result.chain) {
    const at = entry.notAfter === null ? Number.NaN : Date.parse(entry.notAfter);
    if (!Number.isNaN(at) && (earliest === undefined || at < earliest.at)) earliest = { entry, at };
  }
  if (earliest === undefined) {
    const error = result.error ?? (result.chain.length > 0 ? `${result.target} holds no certificate (keys and CSRs do not expire)` : `${result.target} has no certificate`);
    return { ...base, status: 'unknown', daysLeft: null, notAfter: null, subject: null, role: null, error };
  }
  const daysLeft = Math.floor((earliest.at - now) / DAY_MS);
  let status: ExpiryStatus = earliest.at < now || daysLeft < critical ? 'critical' : daysLeft < warn ? 'warning' : 'ok';
  if (status === 'ok' && result.host !== null && !result.trusted) status = 'unknown';
  return {
    ...base,
    status,
    daysLeft,
    notAfter: new Date(earliest.at).toISOString(),
    subject: earliest.entry.subject,
    role: earliest.entry.role,
  };
}

/**
 * Connects to a target (or reads a certificate file) and judges the expiry of its whole chain. Never
 * rejects for an unreachable or unreadable target: that is an `unknown` result with the `error`.
 *
 * @example
 * ```js
 * import { checkExpiry, EXPIRY_EXIT_CODES } from 'certpin'
 * const result = await checkExpiry('api.example.com', { warn: 30, critical: 7 })
 * console.log(result.status, result.daysLeft, result.subject) // 'warning' 12 'CN=Example Intermediate CA'
 * process.exitCode = EXPIRY_EXIT_CODES[result.status]
 * ```
 */
export async function checkExpiry(target: string, options: CheckExpiryOptions = {}): Promise<ExpiryResult> {
  const { warn, critical, now, ...inspectOptions } = options;
  const thresholds = { warn, critical, now };
  thresholdsOf(thresholds);
  let result: InspectResult;
  try {
    result = await inspect(target, inspectOptions);
  } catch (error) {
    result = { target, host: null, port: null, trusted: false, error: (error as Error).message, chain: [], unproven: [] };
  }
  return judgeExpiry(result, thresholds);
}

/**
 * One result in words: when the first certificate of the chain expires, which one, and why the chain
 * was not trusted if it was not.
 *
 * @param result - a result of {@link checkExpiry} or {@link judgeExpiry}.
 * @throws Never.
 * @example
 * ```js
 * describeExpiry(await checkExpiry('api.example.com')) // 'expires in 12 days (2027-01-13T00:00:00Z, intermediate CN=Example CA)'
 * ```
 */
export function describeExpiry(result: ExpiryResult): string {
  if (result.daysLeft === null || result.notAfter === null) return result.error ?? 'no certificate';
  const days = result.daysLeft;
  const when = result.notAfter.replace(/\.000Z$/, 'Z');
  const what = `${result.role ?? 'certificate'} ${result.subject ?? ''}`.trim();
  const left = days < 0 ? 'EXPIRED' : `expires in ${days} day${days === 1 ? '' : 's'}`;
  const untrusted = result.error !== null ? `; ${result.error}` : '';
  return `${left} (${when}, ${what})${untrusted}`;
}

/** Nagios performance data labels: quoted when needed; `'` and `=` cannot appear in them. */
function perfLabel(text: string): string {
  const clean = text.replace(/['=]/g, '_');
  return /^[A-Za-z0-9_.:-]+$/.test(clean) ? clean : `'${clean}'`;
}

/**
 * The status line of a Nagios/Icinga plugin for expiry results, what those systems read as the
 * check's output: `CERTPIN EXPIRY STATE - text | perfdata`, the perfdata being days left with the
 * warning and critical thresholds (`days=12;30;7`; with several targets one `days_TARGET` each). The
 * state is the worst of the results.
 *
 * @param results - the results of the targets checked, in any order.
 * @param options - the warning and critical thresholds in days (defaults 30 and 7).
 * @throws {TypeError} when a threshold is not a non-negative number or `warn` is below `critical`.
 * @example
 * ```js
 * import { checkExpiry, formatNagiosExpiry } from 'certpin'
 * console.log(formatNagiosExpiry([await checkExpiry('api.example.com')], { warn: 30, critical: 7 }))
 * // CERTPIN EXPIRY WARNING - api.example.com:443 expires in 12 days (…) | days=12;30;7
 * ```
 */
export function formatNagiosExpiry(results: readonly ExpiryResult[], options: Pick<ExpiryThresholds, 'warn' | 'critical'> = {}): string {
  const { warn, critical } = thresholdsOf(options);
  const state = worstExpiryStatus(results.map((r) => r.status));
  let text: string;
  if (results.length === 1) text = `${results[0]!.target} ${describeExpiry(results[0]!)}`;
  else {
    const counts = (['critical', 'warning', 'unknown', 'ok'] as const).map((s) => [s, results.filter((r) => r.status === s).length] as const).filter(([, n]) => n > 0);
    const first = [...results].filter((r) => r.daysLeft !== null).sort((a, b) => a.daysLeft! - b.daysLeft!)[0];
    text = `${results.length} targets: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}${first ? `; first to expire: ${first.target} ${describeExpiry(first)}` : ''}`;
  }
  const perf = results
    .filter((r) => r.daysLeft !== null)
    .map((r) => `${results.length === 1 ? 'days' : perfLabel(`days_${r.target}`)}=${r.daysLeft};${warn};${critical}`);
  // A '|' in the text would start the performance data early.
  return `CERTPIN EXPIRY ${state.toUpperCase()} - ${text.replace(/\|/g, '/').replace(/\n/g, ' ')}${perf.length > 0 ? ` | ${perf.join(' ')}` : ''}`;
}
