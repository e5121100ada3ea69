import type { CheckResult } from './policy.js';

/** A violation report: the RFC 7469 section 3 fields, plus what certpin knows about the failure. */
export interface ViolationReport {
  'date-time': string;
  hostname: string;
  port: number;
  'effective-expiration-date': string | null;
  'include-subdomains': boolean;
  'noted-hostname': string;
  'served-certificate-chain': string[];
  'validated-certificate-chain': string[];
  'known-pins': string[];
  enforced: boolean;
  /** `mismatch` or `pins-expired` (the connection ran unpinned). */
  reason: string;
  result?: CheckResult;
}

import { channel } from 'node:diagnostics_channel';
import type { PinPolicy } from './policy.js';
import type { CertInfo } from './chain.js';

/** Subscribers receive `{ report }` for every violating connection. */
export const violationChannel = channel('certpin:violation');

export interface ViolationContext {
  port: number;
  served: readonly CertInfo[];
}

/** Builds the RFC 7469 report of a violating check. */
export function buildReport(result: CheckResult, context: ViolationContext): ViolationReport {
  const rule = result.rules[0];
  const expiresAt = result.rules.map((r) => r.expiresAt).find((t) => t !== undefined);
  return {
    'date-time': new Date().toISOString(),
    hostname: result.hostname,
    port: context.port,
    'effective-expiration-date': expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
    'include-subdomains': result.rules.some((r) => r.includeSubdomains || r.pattern.kind !== 'exact'),
    'noted-hostname': rule?.pattern.text ?? result.hostname,
    'served-certificate-chain': context.served.map((c) => c.x509.toString()),
    'validated-certificate-chain': result.anchored ? result.chain.map((p) => context.served.find((c) => c.pin === p.pin)?.x509.toString() ?? p.pin) : [],
    'known-pins': result.expectedPins.map((pin) => `pin-sha256="${pin.slice('sha256/'.length)}"`),
    enforced: result.enforced,
    reason: result.outcome,
  };
}

/**
 * Hands a violation to `onViolation` and the `certpin:violation` channel. Never throws: it runs inside
 * TLS callbacks, where a throw would let queued request bytes out (NODE-TLS-NOTES 4).
 */
export function notifyViolation(policy: PinPolicy, result: CheckResult, context: ViolationContext): void {
  let report: ViolationReport;
  try {
    report = buildReport(result, context);
  } catch {
    return;
  }
  try {
    policy.onViolation?.(report);
  } catch {
    // a faulty callback must not decide the fate of the connection
  }
  try {
    if (violationChannel.hasSubscribers) violationChannel.publish({ report });
  } catch {
    // likewise for a faulty subscriber
  }
}
