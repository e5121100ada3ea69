import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { createRequire } from 'node:module';
import type { CertInfo, TrustStore } from '../chain/prove.js';
import type { HostRule } from '../policy/config.js';
import type { CheckResult, PinPolicy } from '../policy/policy.js';
import { deliveryChannel, violationChannel, type ViolationReason, type ViolationReport } from '../channels.js';
import { hardenTlsOptions, type ViolationContext } from '../transports/handshake.js';

// node:http and node:https are loaded with the first report, not at import: the register hook imports
// this module, and every process it starts would pay for the whole HTTP stack.
const requireBuiltin = createRequire(import.meta.url);
let clients: { http: typeof import('node:http'); https: typeof import('node:https') } | undefined;
function httpClients(): NonNullable<typeof clients> {
  clients ??= { http: requireBuiltin('node:http') as typeof import('node:http'), https: requireBuiltin('node:https') as typeof import('node:https') };
  return clients;
}


export type { ViolationContext };

const SPECIFICITY = { exact: 0, 'one-label': 1, 'any-labels': 2 } as const;

/** The host entries a violation is about: those in force for a mismatch, all of them once expired. */
function rulesInForce(result: CheckResult, now: number): readonly HostRule[] {
  if (result.outcome === 'pins-expired') return result.rules;
  const live = result.rules.filter((r) => r.expiresAt === undefined || now <= r.expiresAt);
  return live.length > 0 ? live : result.rules;
}

function notedHostname(rules: readonly HostRule[], hostname: string): string {
  const [rule] = [...rules].sort((a, b) => SPECIFICITY[a.pattern.kind] - SPECIFICITY[b.pattern.kind] || b.pattern.base.length - a.pattern.base.length);
  if (!rule) return hostname;
  return rule.pattern.kind === 'one-label' ? rule.pattern.text : rule.pattern.base;
}

/** The union of the pin sets stays in force until the last of them expires; one without `expires` never does. */
function effectiveExpiry(rules: readonly HostRule[]): number | undefined {
  let latest = -Infinity;
  for (const rule of rules) {
    if (rule.expiresAt === undefined) return undefined;
    latest = Math.max(latest, rule.expiresAt);
  }
  return Number.isFinite(latest) ? latest : undefined;
}

/** The proven path as PEM: served certificates by pin, the anchor (not served) found among its issuers in the store. */
function validatedChain(result: CheckResult, served: readonly CertInfo[], anchors: TrustStore | undefined): string[] {
  if (!result.anchored) return [];
  const out: string[] = [];
  let previous: CertInfo | undefined;
  for (const { pin } of result.chain) {
    const cert = served.find((c) => c.pin === pin) ?? (previous && anchors?.issuersOf(previous).find((c) => c.pin === pin));
    if (!cert) break;
    out.push(cert.x509.toString());
    previous = cert;
  }
  return out;
}

/**
 * Builds the report of a violating check. `anchors` is the trust store the chain was proven against,
 * to add the anchor (which the server did not send) to `validated-certificate-chain`.
 */
export function buildReport(result: CheckResult, context: ViolationContext, anchors?: TrustStore): ViolationReport {
  const now = Date.now();
  const rules = rulesInForce(result, now);
  const expiresAt = effectiveExpiry(rules);
  const knownPins = result.expectedPins.length > 0 ? result.expectedPins : [...new Set(rules.flatMap((r) => r.trustedPins))];
  const reason: ViolationReason = result.outcome === 'pins-expired' ? 'pins-expired' : 'mismatch';
  const message =
    reason === 'pins-expired'
      ? `The pin set for ${result.hostname} expired${expiresAt === undefined ? '' : ` on ${new Date(expiresAt).toISOString()}`}: the connection ran unpinned (standard validation only); renew the pins and their expires date`
      : (result.error?.message ?? `Certificate pinning failure for ${result.hostname}`);
  return {
    'date-time': new Date(now).toISOString(),
    hostname: result.hostname,
    port: context.port,
    'effective-expiration-date': expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
    'include-subdomains': rules.some((r) => r.includeSubdomains || r.pattern.kind !== 'exact'),
    'noted-hostname': notedHostname(rules, result.hostname),
    'served-certificate-chain': context.served.map((c) => c.x509.toString()),
    'validated-certificate-chain': validatedChain(result, context.served, anchors),
    'known-pins': knownPins.map((pin) => `pin-sha256="${pin.slice('sha256/'.length)}"`),
    enforced: result.enforced,
    reason,
    message,
  };
}

/**
 * Hands a violation to `onViolation` and the `certpin:violation` channel, and schedules its POST to
 * the `reportUri` of the host entries in force. Never throws and never waits: it runs inside TLS
 * callbacks, where a throw would let queued request bytes out (docs/node-tls.md N4) and any delay would
 * slow the application's request. A POST under way keeps the process alive for at most its timeout.
 * An `https` report URI is held to the same policy: a report host refused by it (its own pins, or
 * `unpinned: "deny"` without pins for it) receives nothing.
 */
export function notifyViolation(policy: PinPolicy, result: CheckResult, context: ViolationContext): void {
  announce(policy, result, context, true);
}

/**
 * The handshake check's violation handler for report POSTs themselves: `onViolation` and the channel
 * still hear of a report host failing its pins, but nothing is POSTed about it, or A's report host B
 * reporting to A would loop.
 */
function notifyWithoutDelivery(policy: PinPolicy, result: CheckResult, context: ViolationContext): void {
  announce(policy, result, context, false);
}

function announce(policy: PinPolicy, result: CheckResult, context: ViolationContext, deliver: boolean): void {
  let report: ViolationReport;
  let uris: string[];
  try {
    report = buildReport(result, context, policy.trustStore);
    uris = [...new Set(rulesInForce(result, Date.now()).flatMap((r) => (r.reportUri === undefined ? [] : [r.reportUri])))];
  } catch {
    return;
  }
  try {
    const pending: unknown = policy.onViolation?.(report);
    // An async callback's rejection would otherwise surface as an unhandled rejection.
    if (pending instanceof Promise) pending.catch(() => {});
  } catch {
    // a faulty callback must not decide the fate of the connection
  }
  try {
    if (violationChannel.hasSubscribers) violationChannel.publish({ report });
  } catch {
    // likewise for a faulty subscriber
  }
  if (!deliver || uris.length === 0) return;
  const key = dedupKey(result, context);
  setImmediate(() => {
    for (const uri of uris) reportSender.submit(policy, uri, `${uri}\n${key}`, report);
  });
}

function dedupKey(result: CheckResult, context: ViolationContext): string {
  let key = `${result.hostname}\n${context.port}\n${result.outcome}\n`;
  for (const cert of context.served) key += `${cert.fingerprint256},`;
  return key;
}

/** Bounds on report delivery. */
export interface ReportDeliveryLimits {
  /** Abandon a POST (connect, TLS, request and response together) after this long. */
  timeoutMs: number;
  /** POSTs under way at once. */
  maxInFlight: number;
  /** Reports waiting for a slot; beyond it new reports are dropped. */
  maxQueued: number;
  /** Identical reports are POSTed once per window (24 hours: docs/runbook.md). */
  dedupWindowMs: number;
  /** After a failed POST, an identical report may be tried again after this long, not before. */
  retryAfterFailureMs: number;
  /** Distinct reports remembered for de-duplication; the oldest are forgotten first. */
  maxRemembered: number;
}

const DEFAULT_LIMITS: ReportDeliveryLimits = {
  timeoutMs: 5_000,
  maxInFlight: 4,
  maxQueued: 100,
  dedupWindowMs: 24 * 60 * 60 * 1000,
  retryAfterFailureMs: 5 * 60 * 1000,
  maxRemembered: 1_000,
};

interface DeliveryJob {
  policy: PinPolicy;
  uri: string;
  key: string;
  report: ViolationReport;
}

type DeliveryOutcome = { outcome: 'sent'; status: number } | { outcome: 'failed'; status?: number; error?: Error };

/**
 * Fire-and-forget delivery: no retries, a bounded queue, a bounded number of POSTs in flight, each
 * with a deadline, and a bounded memory of what was sent. Nothing here can fail or delay the
 * connection that was reported. The clock is `Date.now()`, so tests freeze it with `mock.timers`.
 */
class ReportSender {
  #limits: ReportDeliveryLimits = { ...DEFAULT_LIMITS };
  readonly #sentUntil = new Map<string, number>();
  readonly #queue: DeliveryJob[] = [];
  #inFlight = 0;

  configure(limits: Partial<ReportDeliveryLimits>): void {
    this.#limits = { ...this.#limits, ...limits };
  }

  /** Forgets what was sent and restores the default limits (tests). */
  reset(): void {
    this.#limits = { ...DEFAULT_LIMITS };
    this.#sentUntil.clear();
  }

  submit(policy: PinPolicy, uri: string, key: string, report: ViolationReport): void {
    try {
      const now = Date.now();
      const until = this.#sentUntil.get(key);
      if (until !== undefined && now < until) {
        publishDelivery(uri, report, { outcome: 'deduplicated' });
        return;
      }
      if (this.#queue.length >= this.#limits.maxQueued) {
        publishDelivery(uri, report, { outcome: 'dropped' });
        return;
      }
      this.#remember(key, now + this.#limits.dedupWindowMs, now);
      this.#queue.push({ policy, uri, key, report });
      this.#pump();
    } catch {
      // delivery is best effort: nothing may escape into the application
    }
  }

  #remember(key: string, until: number, now: number): void {
    this.#sentUntil.delete(key);
    if (this.#sentUntil.size >= this.#limits.maxRemembered) {
      for (const [k, t] of this.#sentUntil) if (t <= now) this.#sentUntil.delete(k);
      while (this.#sentUntil.size >= this.#limits.maxRemembered) this.#sentUntil.delete(this.#sentUntil.keys().next().value as string);
    }
    this.#sentUntil.set(key, until);
  }

  #pump(): void {
    while (this.#inFlight < this.#limits.maxInFlight) {
      const job = this.#queue.shift();
      if (!job) return;
      this.#inFlight++;
      void post(job, this.#limits.timeoutMs).then((result) => {
        this.#inFlight--;
        if (result.outcome === 'failed') {
          const now = Date.now();
          if ((this.#sentUntil.get(job.key) ?? 0) > now) this.#remember(job.key, now + this.#limits.retryAfterFailureMs, now);
        }
        publishDelivery(job.uri, job.report, result);
        this.#pump();
      });
    }
  }
}

const reportSender = new ReportSender();

/**
 * @internal Tunes report delivery (tests: a short timeout) and, with `reset`, forgets what was sent.
 */
export function configureReportDelivery(limits: Partial<ReportDeliveryLimits> | 'reset'): void {
  if (limits === 'reset') reportSender.reset();
  else reportSender.configure(limits);
}

function publishDelivery(uri: string, report: ViolationReport, result: { outcome: string; status?: number; error?: Error }): void {
  try {
    if (deliveryChannel.hasSubscribers) deliveryChannel.publish({ uri, report, ...result });
  } catch {
    // a faulty subscriber must not stop delivery
  }
}

/** One POST, resolved (never rejected) with its outcome. An `https` URI goes through the same policy's pinned TLS. */
function post(job: DeliveryJob, timeoutMs: number): Promise<DeliveryOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let req: ClientRequest | undefined;
    const finish = (outcome: DeliveryOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req?.destroy();
      resolve(outcome);
    };
    const deadline = setTimeout(() => finish({ outcome: 'failed', error: new Error(`no answer from ${job.uri} within ${timeoutMs} ms`) }), timeoutMs);
    try {
      const url = new URL(job.uri);
      const body = JSON.stringify(job.report);
      const base = {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'certpin' },
      } satisfies RequestOptions;
      const onResponse = (res: IncomingMessage): void => {
        const status = res.statusCode ?? 0;
        res.on('error', () => {});
        res.resume();
        res.on('end', () => finish(status >= 200 && status < 300 ? { outcome: 'sent', status } : { outcome: 'failed', status }));
      };
      if (url.protocol === 'https:') {
        const port = url.port === '' ? 443 : Number(url.port);
        req = httpClients().https.request(url, hardenTlsOptions(job.policy, { ...base, port }, 443, { onViolation: notifyWithoutDelivery }), onResponse);
      } else {
        req = httpClients().http.request(url, base, onResponse);
      }
      req.on('error', (error) => finish({ outcome: 'failed', error }));
      req.end(body);
    } catch (error) {
      finish({ outcome: 'failed', error: error instanceof Error ? error : new Error(String(error)) });
    }
  });
}
