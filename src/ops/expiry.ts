import { inspect, type ChainEntry, type ChainRole, type InspectOptions, type InspectResult } from '../probe.js';

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
  return { warn: threshold(options.warn, 30, 'warn'), critical: threshold(options.critical, 7, 'critical'), now };
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
