// Every diagnostics_channel certpin publishes on, by name, with the type of its messages: one place
// for a subscriber (or a reader) to find them. Nothing here imports the rest of certpin.
import { channel } from 'node:diagnostics_channel';

/**
 * Why a connection was reported: its pins did not match, or its pin set had expired (it ran unpinned).
 *
 * @example
 * ```js
 * subscribe(VIOLATION_CHANNEL, ({ report }) => {
 *   if (report.reason === 'pins-expired') console.warn(`${report.hostname} runs unpinned: its pins expired`)
 * })
 * ```
 */
export type ViolationReason = 'mismatch' | 'pins-expired';

/**
 * A violation report: the fields of RFC 7469 section 3, plus what certpin knows about the failure.
 * Plain JSON: this exact object is what `onViolation` and the `certpin:violation` channel receive and
 * what is POSTed to the host's `reportUri`.
 *
 * @example
 * ```js
 * import { createPolicy } from 'certpin'
 * const policy = createPolicy(config, {
 *   onViolation: (report) => log.warn({ host: report.hostname, port: report.port, reason: report.reason, enforced: report.enforced }, report.message),
 * })
 * ```
 */
export interface ViolationReport {
  /** When the violating connection was checked (ISO 8601, UTC). */
  'date-time': string;
  /** The hostname as matched: lowercased, punycode, no trailing dot. */
  hostname: string;
  port: number;
  /** When the host's pin set stops being enforced (its `expires`), or null when it never does. */
  'effective-expiration-date': string | null;
  'include-subdomains': boolean;
  /** The host entry whose pins applied (`*.example.com` for a one-label pattern). */
  'noted-hostname': string;
  /** PEM certificates as the connection presented them, leaf first. */
  'served-certificate-chain': string[];
  /** PEM certificates of the proven path, leaf first, ending at the trust anchor when one was reached. */
  'validated-certificate-chain': string[];
  /** The host's trusted pins, as `pin-sha256="…"`. */
  'known-pins': string[];
  /** False for report-only hosts and expired pin sets: the connection went ahead. */
  enforced: boolean;
  reason: ViolationReason;
  /** What happened, for a human: the mismatch message, or when the pin set expired. */
  message: string;
}

/**
 * The name of the `diagnostics_channel` on which every violating connection is published as
 * `{ report }` (a {@link ViolationReport}), de-duplicated or not, whether or not the host has a `reportUri`.
 *
 * @example
 * ```js
 * import { subscribe } from 'node:diagnostics_channel'
 * import { VIOLATION_CHANNEL } from 'certpin'
 * subscribe(VIOLATION_CHANNEL, ({ report }) => metrics.increment('pin_violation', { host: report.hostname }))
 * ```
 */
export const VIOLATION_CHANNEL = 'certpin:violation';

/**
 * Subscribers receive a {@link ReportDeliveryMessage} once per report handed to delivery: `outcome`
 * is `sent`, `failed` (`error` or a non-2xx `status`), `deduplicated` or `dropped` (queue full).
 *
 * @example
 * ```js
 * import { subscribe } from 'node:diagnostics_channel'
 * import { REPORT_DELIVERY_CHANNEL } from 'certpin'
 * subscribe(REPORT_DELIVERY_CHANNEL, ({ uri, outcome }) => metrics.increment('pin_report', { uri, outcome }))
 * ```
 */
export const REPORT_DELIVERY_CHANNEL = 'certpin:report-delivery';

/**
 * A message of the `certpin:violation` channel ({@link VIOLATION_CHANNEL}).
 *
 * @example
 * ```ts
 * subscribe(VIOLATION_CHANNEL, (message) => console.warn((message as ViolationMessage).report.message))
 * ```
 */
export interface ViolationMessage {
  report: ViolationReport;
}

/**
 * A message of the `certpin:report-delivery` channel ({@link REPORT_DELIVERY_CHANNEL}).
 *
 * @example
 * ```ts
 * subscribe(REPORT_DELIVERY_CHANNEL, (m) => { const { uri, outcome } = m as ReportDeliveryMessage; if (outcome === 'failed') console.warn(`report to ${uri} failed`) })
 * ```
 */
export interface ReportDeliveryMessage {
  uri: string;
  report: ViolationReport;
  outcome: 'sent' | 'failed' | 'deduplicated' | 'dropped';
  status?: number;
  error?: Error;
}

/**
 * Messages on the `certpin:pinfile` diagnostics channel, from `loadPolicy({ watch: true })` and the
 * register hook: `{ path, event: 'reload', version }` after a changed file was applied,
 * `{ path, event: 'error', error }` when it was not (once per distinct content).
 *
 * @example
 * ```js
 * import { subscribe } from 'node:diagnostics_channel'
 * import { PIN_FILE_CHANNEL } from 'certpin'
 * subscribe(PIN_FILE_CHANNEL, ({ path, event }) => console.log(`${path}: ${event}`))
 * ```
 */
export const PIN_FILE_CHANNEL = 'certpin:pinfile';

/**
 * A message of the `certpin:pinfile` channel ({@link PIN_FILE_CHANNEL}).
 *
 * @example
 * ```ts
 * subscribe(PIN_FILE_CHANNEL, (m) => { const message = m as PinFileMessage; if (message.event === 'error') console.error(message.error.message) })
 * ```
 */
export type PinFileMessage = { path: string; event: 'reload'; version: number } | { path: string; event: 'error'; error: Error };

/**
 * What the pin file lock does, for diagnostics and tests: `{ path, event }` with `event` one of
 * `acquired`, `waiting` (held by a live writer: retry later) and `broken` (a stale lock removed).
 *
 * @example
 * ```js
 * import { subscribe } from 'node:diagnostics_channel'
 * import { PIN_FILE_LOCK_CHANNEL } from 'certpin'
 * subscribe(PIN_FILE_LOCK_CHANNEL, ({ path, event }) => { if (event === 'waiting') console.log(`${path} is being written by another process`) })
 * ```
 */
export const PIN_FILE_LOCK_CHANNEL = 'certpin:pinfile-lock';

/**
 * A message of the `certpin:pinfile-lock` channel ({@link PIN_FILE_LOCK_CHANNEL}).
 *
 * @example
 * ```ts
 * subscribe(PIN_FILE_LOCK_CHANNEL, (m) => { if ((m as PinFileLockMessage).event === 'broken') console.warn('a stale pin file lock was broken') })
 * ```
 */
export interface PinFileLockMessage {
  path: string;
  event: 'acquired' | 'waiting' | 'broken';
}

/** @internal The channels themselves, for the modules that publish; `publish` only when `hasSubscribers`. */
export const violationChannel = channel(VIOLATION_CHANNEL);
export const deliveryChannel = channel(REPORT_DELIVERY_CHANNEL);
export const pinFileChannel = channel(PIN_FILE_CHANNEL);
export const pinFileLockChannel = channel(PIN_FILE_LOCK_CHANNEL);
