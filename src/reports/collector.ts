import { createHash, X509Certificate } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spkiPin } from '../policy/pin.js';
import { formatName } from '../lib/pem.js';

/**
 * `rfc7469`: HPKP-style reports, certpin's own included; `trustkit`: reports from TrustKit (iOS/macOS) apps.
 *
 * @example
 * ```js
 * createCollector({ onReport: (report) => metrics.increment('pin_reports', { format: report.format }) })
 * ```
 */
export type ReportFormat = 'rfc7469' | 'trustkit';

/**
 * A report the collector accepted, normalised across both formats.
 *
 * @example
 * ```js
 * createCollector({ onReport: (report) => alert(`${report.hostname}: ${report.reason} (leaf ${report.leaf?.subject ?? 'unknown'})`) })
 * ```
 */
export interface CollectedReport {
  /** When the collector received it (ISO 8601): unlike the report's own `date-time`, not the reporter's clock. */
  receivedAt: string;
  format: ReportFormat;
  hostname: string;
  port: number | null;
  notedHostname: string | null;
  includeSubdomains: boolean | null;
  /** Whether the reporter enforced the pins (certpin `enforced`, TrustKit `enforce-pinning`); null when unsaid. */
  enforced: boolean | null;
  /** certpin's `reason`, TrustKit's `validation-result` by name, else `pin-validation-failed`. */
  reason: string;
  /** TrustKit only. */
  appBundleId: string | null;
  knownPins: string[];
  /** The leaf the reporter saw (served chain first, else validated chain): its subject and pin. */
  leaf: { subject: string; pin: string } | null;
  /** The report as received. */
  report: Record<string, unknown>;
}

/**
 * Options of {@link createCollector} and {@link startCollector}.
 *
 * @example
 * ```js
 * const collector = createCollector({ out: 'reports.jsonl', dedupWindowMs: 60 * 60_000, onReport: (_report, line) => console.log(line) })
 * ```
 */
export interface CollectorOptions {
  /** A file to which every new report is appended as one JSON line. */
  out?: string;
  /** Larger bodies are refused with 413. @default 65536 */
  maxBodyBytes?: number;
  /** An identical report (same reporter facts, whatever its date) is accepted once per window. @default 24 hours */
  dedupWindowMs?: number;
  /** Distinct reports remembered for de-duplication; the oldest are forgotten first. @default 10000 */
  maxRemembered?: number;
  /** Called for every new (not duplicate) report, with the line {@link formatCollectedReport} makes of it. */
  onReport?: (report: CollectedReport, line: string) => void;
}

/**
 * A collector not bound to a server: mount `handler` on any `http` or `https` server.
 *
 * @example
 * ```js
 * import { createServer } from 'node:http'
 * import { createCollector } from 'certpin'
 * const collector = createCollector({ out: 'reports.jsonl' })
 * createServer(collector.handler).listen(8080)
 * setInterval(() => console.log(`${collector.accepted} new, ${collector.duplicates} repeated`), 60_000)
 * ```
 */
export interface Collector {
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** New reports accepted so far. */
  readonly accepted: number;
  /** Valid reports that repeated one already accepted. */
  readonly duplicates: number;
  /** Requests refused (405, 400, 413). */
  readonly refused: number;
  /** Resolves once every accepted report is written to `out`. */
  flush(): Promise<void>;
}

/**
 * A collector listening on its own HTTP server, from {@link startCollector}.
 *
 * @example
 * ```js
 * import { startCollector } from 'certpin'
 * const collector = await startCollector({ host: '127.0.0.1', port: 8080, out: 'reports.jsonl' })
 * console.log(`reportUri: ${collector.url}`)
 * process.once('SIGTERM', () => collector.close())
 * ```
 */
export interface RunningCollector extends Collector {
  readonly host: string;
  readonly port: number;
  /** Where reporters should POST, e.g. as a host entry's `reportUri`. */
  readonly url: string;
  readonly server: Server;
  /** Stops listening, ends open connections and flushes `out`. */
  close(): Promise<void>;
}

const TRUSTKIT_RESULTS: Record<number, string> = {
  0: 'success',
  1: 'no-matching-pin',
  2: 'invalid-certificate-chain',
  3: 'invalid-parameters',
  4: 'user-defined-trust-anchor-failed',
  5: 'spki-hash-failed',
};

class BadReport extends Error {
  constructor(
    readonly status: 400 | 405 | 413,
    message: string,
  ) {
    super(message);
  }
}

/** Reports nest two levels (RFC 7469 section 3, TrustKit's report); deeper bodies are refused. */
const MAX_REPORT_DEPTH = 32;

/** The nesting depth of a parsed JSON value, counted without recursion so no depth can overflow the stack. */
function nestingDepth(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > MAX_REPORT_DEPTH) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringList(body: Record<string, unknown>, field: string): string[] {
  const value = body[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new BadReport(400, `${field} must be an array of strings`);
  return value as string[];
}

function optional<T>(body: Record<string, unknown>, field: string, type: 'boolean' | 'string' | 'number'): T | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== type) throw new BadReport(400, `${field} must be a ${type}`);
  return value as T;
}

function leafOf(chain: readonly string[]): CollectedReport['leaf'] {
  const pem = chain[0];
  if (pem === undefined) return null;
  try {
    const cert = new X509Certificate(pem);
    return { subject: formatName(cert.subject), pin: spkiPin(cert) };
  } catch {
    return null;
  }
}

/** Recognises an RFC 7469 or TrustKit report in a parsed body; throws a 400 for anything else. */
export function normalizeReport(body: unknown, receivedAt = new Date()): CollectedReport {
  if (!isObject(body)) throw new BadReport(400, 'expected a JSON object');
  if (typeof body.hostname !== 'string' || body.hostname === '') throw new BadReport(400, 'not a pin violation report: hostname is missing');
  const trustkit = 'app-bundle-id' in body || 'validation-result' in body || 'enforce-pinning' in body;
  const port = optional<number>(body, 'port', 'number');
  const served = stringList(body, 'served-certificate-chain');
  const validated = stringList(body, 'validated-certificate-chain');
  let reason: string;
  if (trustkit) {
    const result = optional<number>(body, 'validation-result', 'number');
    reason = result === null ? 'pin-validation-failed' : (TRUSTKIT_RESULTS[result] ?? `validation-result-${result}`);
  } else {
    reason = optional<string>(body, 'reason', 'string') ?? 'pin-validation-failed';
  }
  return {
    receivedAt: receivedAt.toISOString(),
    format: trustkit ? 'trustkit' : 'rfc7469',
    hostname: body.hostname,
    port,
    notedHostname: optional<string>(body, 'noted-hostname', 'string'),
    includeSubdomains: optional<boolean>(body, 'include-subdomains', 'boolean'),
    enforced: optional<boolean>(body, trustkit ? 'enforce-pinning' : 'enforced', 'boolean'),
    reason,
    appBundleId: trustkit ? optional<string>(body, 'app-bundle-id', 'string') : null,
    knownPins: stringList(body, 'known-pins'),
    leaf: leafOf(served.length > 0 ? served : validated),
    report: body,
  };
}

/** What makes two reports the same violation: everything but when it was seen. */
function identity(report: CollectedReport): string {
  const { report: body } = report;
  const facts = [
    report.format,
    report.hostname,
    report.port,
    report.notedHostname,
    report.reason,
    report.enforced,
    report.appBundleId,
    report.knownPins,
    body['served-certificate-chain'] ?? null,
    body['validated-certificate-chain'] ?? null,
  ];
  return createHash('sha256').update(JSON.stringify(facts)).digest('base64');
}

/**
 * Report fields come from anyone who can reach the collector: a hostname with a newline, NUL or ANSI
 * escape would forge or hide lines in a terminal or log file (CWE-117). Control characters (C0, DEL,
 * C1), the Unicode line and paragraph separators and bidirectional overrides (CVE-2021-42574, "Trojan
 * Source") are written as `\xHH`/`\uHHHH`, and the backslash itself as `\\`, so the escaped text reads
 * back unambiguously and one report is always one line.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Characters JSON.stringify leaves raw that a terminal or log reader takes as a line break or a control. */
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A report as one JSON line (the `--out` file, `certpin collect --json`): JSON.stringify escapes C0
 * controls, and this also escapes DEL, C1 (0x9b is CSI on 8-bit terminals), the Unicode line
 * separators and bidirectional overrides, as `\uHHHH`: the same JSON value, always one line.
 *
 * @param report - a report as the collector stores it.
 * @throws Never for a report of the collector's (plain JSON).
 * @example
 * ```js
 * import { createCollector, reportJsonLine } from 'certpin'
 * const collector = createCollector({ onReport: (report) => process.stdout.write(reportJsonLine(report)) })
 * ```
 */
export function reportJsonLine(report: CollectedReport): string {
  return `${JSON.stringify(report).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}

/**
 * One line for a person watching the collector:
 * `2026-11-28T10:00:00.000Z api.example.com:443 mismatch report-only leaf sha256/…= CN=api.example.com known 2 pins`.
 *
 * @example
 * ```js
 * import { createCollector, formatCollectedReport } from 'certpin'
 * const collector = createCollector({ onReport: (report) => console.log(formatCollectedReport(report)) })
 * ```
 */
export function formatCollectedReport(report: CollectedReport): string {
  const parts = [report.receivedAt, `${report.hostname}${report.port === null ? '' : `:${report.port}`}`, report.reason];
  if (report.enforced !== null) parts.push(report.enforced ? 'enforced' : 'report-only');
  if (report.notedHostname !== null && report.notedHostname !== report.hostname) parts.push(`noted ${report.notedHostname}`);
  parts.push(report.leaf ? `leaf ${report.leaf.pin} ${report.leaf.subject}` : 'leaf unknown');
  parts.push(`known ${report.knownPins.length} pin${report.knownPins.length === 1 ? '' : 's'}`);
  if (report.appBundleId !== null) parts.push(`app ${report.appBundleId}`);
  return printable(parts.join(' '));
}

function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  return media === '' || media === 'application/json' || media.endsWith('+json');
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      reject(new BadReport(413, `the body is larger than ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BadReport(413, `the body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A violation report collector for RFC 7469 (HPKP, certpin's `reportUri`) and TrustKit reports.
 * It answers 204 to a report, 405 to anything but POST, 400 to a body that is not a JSON report and
 * 413 to one over `maxBodyBytes`; identical reports are accepted once per `dedupWindowMs`.
 *
 * @example
 * ```js
 * import { createServer } from 'node:https'
 * import { createCollector } from 'certpin'
 * const collector = createCollector({ out: 'reports.jsonl' })
 * createServer({ key, cert }, collector.handler).listen(8443)
 * ```
 */
export function createCollector(options: CollectorOptions = {}): Collector {
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const dedupWindowMs = options.dedupWindowMs ?? 24 * 60 * 60 * 1000;
  const maxRemembered = options.maxRemembered ?? 10_000;
  if (!(maxBodyBytes > 0) || !(dedupWindowMs >= 0) || !(maxRemembered > 0)) throw new TypeError('maxBodyBytes, dedupWindowMs and maxRemembered must be positive numbers');
  const seenUntil = new Map<string, number>();
  let writes: Promise<void> = Promise.resolve();
  let accepted = 0;
  let duplicates = 0;
  let refused = 0;

  const remember = (key: string, now: number): void => {
    if (seenUntil.size >= maxRemembered) {
      for (const [k, until] of seenUntil) if (until <= now) seenUntil.delete(k);
      while (seenUntil.size >= maxRemembered) seenUntil.delete(seenUntil.keys().next().value as string);
    }
    seenUntil.set(key, now + dedupWindowMs);
  };

  const answer = (res: ServerResponse, status: number, message?: string, headers: Record<string, string> = {}): void => {
    if (message === undefined) res.writeHead(status, headers).end();
    else res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(`${message}\n`);
  };

  /** Reports of the same identity being stored now: a concurrent copy waits for the outcome. */
  const storing = new Map<string, Promise<boolean>>();

  const store = async (report: CollectedReport, key: string, line: string, now: number): Promise<void> => {
    if (options.out !== undefined) {
      const out = options.out;
      const write = writes.then(() => appendFile(out, line));
      writes = write.catch(() => {});
      await write;
    }
    // Counted, remembered and announced only once stored: a report whose write failed was not
    // collected, so its copies must be tried again, not answered "duplicate".
    remember(key, now);
    accepted++;
    try {
      options.onReport?.(report, formatCollectedReport(report));
    } catch {
      // a faulty callback must not lose the report
    }
  };

  const accept = async (req: IncomingMessage): Promise<void> => {
    if (req.method !== 'POST') throw new BadReport(405, 'send reports with POST');
    if (!isJsonType(req.headers['content-type'])) throw new BadReport(400, `expected a JSON body, got ${req.headers['content-type']}`);
    const raw = await readBody(req, maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new BadReport(400, 'the body is not valid JSON');
    }
    // JSON.parse takes thousands of levels that JSON.stringify (the --out line) then cannot write
    // ("Maximum call stack size exceeded"); no report format nests more than a few levels.
    if (nestingDepth(body) > MAX_REPORT_DEPTH) throw new BadReport(400, `the report nests deeper than ${MAX_REPORT_DEPTH} levels`);
    const now = Date.now();
    const report = normalizeReport(body, new Date(now));
    const key = identity(report);
    const line = reportJsonLine(report);
    for (;;) {
      const pending = storing.get(key);
      if (pending === undefined) break;
      if (await pending) {
        duplicates++;
        return;
      }
      if (storing.get(key) === pending) storing.delete(key);
    }
    const until = seenUntil.get(key);
    if (until !== undefined && now < until) {
      duplicates++;
      return;
    }
    seenUntil.delete(key);
    const attempt = store(report, key, line, now);
    const pendingOf = attempt.then(() => true, () => false);
    storing.set(key, pendingOf);
    try {
      await attempt;
    } finally {
      if (storing.get(key) === pendingOf) storing.delete(key);
    }
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    accept(req).then(
      () => answer(res, 204),
      (error: unknown) => {
        if (error instanceof BadReport) {
          refused++;
          const headers: Record<string, string> = error.status === 405 ? { allow: 'POST' } : error.status === 413 ? { connection: 'close' } : {};
          answer(res, error.status, error.message, headers);
        } else {
          answer(res, 500, 'the report could not be stored');
        }
      },
    );
  };

  return {
    handler,
    get accepted() {
      return accepted;
    },
    get duplicates() {
      return duplicates;
    },
    get refused() {
      return refused;
    },
    flush: () => writes,
  };
}

/**
 * Starts a collector on `node:http` (see {@link createCollector}), by default on 127.0.0.1 and a free
 * port. The `certpin collect` command is this function.
 *
 * @example
 * ```js
 * import { createPolicy, startCollector } from 'certpin'
 * const collector = await startCollector({ port: 0, out: 'reports.jsonl', onReport: (_r, line) => console.log(line) })
 * const policy = createPolicy({ hosts: { 'api.example.com': { pins, enforce: false, reportUri: collector.url } } })
 * // …
 * await collector.close()
 * ```
 */
export async function startCollector(options: CollectorOptions & { host?: string; port?: number } = {}): Promise<RunningCollector> {
  const { host = '127.0.0.1', port = 0, ...collectorOptions } = options;
  const collector = createCollector(collectorOptions);
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, collector.handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    handler: collector.handler,
    get accepted() {
      return collector.accepted;
    },
    get duplicates() {
      return collector.duplicates;
    },
    get refused() {
      return collector.refused;
    },
    flush: () => collector.flush(),
    host: address.address,
    port: address.port,
    url: `http://${urlHost}:${address.port}/`,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => collector.flush());
      return closing;
    },
  };
}
