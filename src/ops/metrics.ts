import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { CertpinError } from '../errors.js';
import { validateConfig, type HostRule, type PolicyConfig, type ValidatedConfig } from '../policy/config.js';
import { normalizeHostname } from '../policy/hosts.js';
import { formatTarget } from '../pinfile/targets.js';
import { inspect, type InspectOptions, type InspectResult } from '../probe/inspect.js';
import { probeEntries, type EntryProbe, type ProbeEntriesOptions } from './probe-entries.js';

/**
 * Options of {@link collectMetrics}: those of {@link probeEntries}, and the clock.
 *
 * @example
 * ```js
 * await collectMetrics(config, { concurrency: 4, timeout: 5000 })
 * ```
 */
export interface MetricsOptions extends ProbeEntriesOptions {
  /** The clock, for the round's timestamp. @default Date.now() */
  now?: Date | number;
}

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  samples: Array<{ labels: Labels; value: number }>;
}

/** Prometheus text format 0.0.4: in label values `\`, `"` and newlines are escaped; in HELP, `\` and newlines. */
const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function exposition(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} gauge`);
    for (const { labels, value } of family.samples) {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      lines.push(`${family.name}${text ? `{${text}}` : ''} ${Number.isFinite(value) ? String(value) : 'NaN'}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const HELP = {
  success: 'Whether the last probe connected and the chain passed standard validation (1) or not (0).',
  duration: 'How long the last probe took.',
  match:
    'Whether the verified chain of the last probe carries a pin trusted for the host (1) or not (0), counting every entry that matches it, as pinned clients do. ' +
    'Absent when the probe failed (certpin_probe_success 0): an outage is not a pin mismatch.',
  expiry: 'When the first certificate of the probed chain expires, in seconds since the Unix epoch.',
  trusted: 'Pins of the host entry that are trusted (active or backup).',
  pending: 'Pins of the host entry waiting for review (pending_review).',
  pinSetExpiry: 'When the pins of the host entry stop being enforced (its "expires"), in seconds since the Unix epoch.',
  round: 'When this probe round started, in seconds since the Unix epoch.',
} as const;

/** The series of some host entries, each with the probe made for it (if any). */
function entryFamilies(validated: ValidatedConfig, entries: ReadonlyArray<{ rule: HostRule; probe: EntryProbe | undefined }>): Family[] {
  const family = (name: string, help: string): Family => ({ name, help, samples: [] });
  const success = family('certpin_probe_success', HELP.success);
  const duration = family('certpin_probe_duration_seconds', HELP.duration);
  const match = family('certpin_pin_match', HELP.match);
  const expiry = family('certpin_chain_earliest_expiry_timestamp_seconds', HELP.expiry);
  const trusted = family('certpin_trusted_pins', HELP.trusted);
  const pending = family('certpin_pending_pins', HELP.pending);
  const pinSetExpiry = family('certpin_pin_set_expiry_timestamp_seconds', HELP.pinSetExpiry);
  for (const { rule, probe } of entries) {
    const host = { host: rule.key };
    trusted.samples.push({ labels: host, value: rule.trustedPins.length });
    pending.samples.push({ labels: host, value: rule.pins.filter((p) => p.status === 'pending_review').length });
    if (rule.expiresAt !== undefined) pinSetExpiry.samples.push({ labels: host, value: Math.floor(rule.expiresAt / 1000) });
    if (probe?.result == null || probe.target === null) continue;
    const labels = { host: rule.key, target: probe.target };
    const { result } = probe;
    success.samples.push({ labels, value: result.trusted ? 1 : 0 });
    duration.samples.push({ labels, value: Math.round(probe.durationMs) / 1000 });
    if (result.trusted) {
      // The pins a pinned client accepts for the host it connected to: every matching entry's.
      const rules = result.host === null ? [rule] : [rule, ...validated.index.lookup(normalizeHostname(result.host))];
      const pins = new Set(rules.flatMap((r) => r.trustedPins));
      match.samples.push({ labels, value: result.chain.some((e) => pins.has(e.pin)) ? 1 : 0 });
    }
    const times = result.chain.map((e) => (e.notAfter === null ? Number.NaN : Date.parse(e.notAfter))).filter((t) => !Number.isNaN(t));
    if (times.length > 0) expiry.samples.push({ labels, value: Math.floor(Math.min(...times) / 1000) });
  }
  return [success, duration, match, expiry, trusted, pending, pinSetExpiry];
}

/**
 * The Prometheus exposition of one probe round: per host entry, whether the probe succeeded (the chain
 * passed standard validation), whether its verified chain carries a trusted pin (left out when the
 * probe failed), when the first certificate of the chain expires, and how many pins are trusted or
 * pending review. Pure: the probes come from {@link probeEntries}; with no probes, only the pin
 * file's own series.
 *
 * @example
 * ```js
 * import { formatMetrics, probeEntries } from 'certpin'
 * const probes = await probeEntries(config, { concurrency: 4 })
 * process.stdout.write(formatMetrics(config, probes))
 * ```
 */
export function formatMetrics(config: PolicyConfig, probes: readonly EntryProbe[], options: { now?: Date | number } = {}): string {
  const validated = validateConfig(config);
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  const probeByEntry = new Map(probes.map((p) => [p.entry, p]));
  const families = entryFamilies(validated, validated.rules.map((rule) => ({ rule, probe: probeByEntry.get(rule.key) })));
  families.push({ name: 'certpin_probe_round_timestamp_seconds', help: HELP.round, samples: [{ labels: {}, value: Math.floor(now / 1000) }] });
  return exposition(families);
}

/**
 * A `/probe` target, `HOST`, `HOST:PORT` or `[IPv6]:PORT` (blackbox_exporter's form). Parsed strictly
 * here, never as a file: a query string must not make the exporter read or test paths.
 */
function parseProbeTarget(text: string): { host: string; port: number | undefined } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_-][A-Za-z0-9._-]*))(?::(\d{1,5}))?$/.exec(text);
  if (!match) return undefined;
  const host = match[1] ?? match[2]!;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  const port = match[3] === undefined ? undefined : Number(match[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { host, port };
}

// A fleet scraped through /probe asks about the same pin file many times a second: validate each
// loaded object once (a new load is a new object, so an edited file is always validated afresh).
const VALIDATED = new WeakMap<object, ValidatedConfig>();
function validatedOf(config: PolicyConfig): ValidatedConfig {
  let validated = VALIDATED.get(config);
  if (validated === undefined) VALIDATED.set(config, (validated = validateConfig(config)));
  return validated;
}

/**
 * Bad `/probe` targets, and the HTTP status each gets: a malformed target is the client's mistake
 * (400); a host outside the pin file is not there to probe (404).
 */
const PROBE_REFUSALS = new WeakMap<Error, number>();

function refuse(status: number, message: string): CertpinError {
  const error = new CertpinError('ERR_CERTPIN_INVALID_INPUT', message);
  PROBE_REFUSALS.set(error, status);
  return error;
}

/**
 * Probes one target of a policy (the `/probe?target=` of {@link serveMetrics}) and returns the series
 * of the entries matching its host: the entry's pins apply, its `port` when the target names none.
 * A malformed target or a host that no entry matches is refused (`ERR_CERTPIN_INVALID_INPUT`): the
 * exporter connects only to pinned hosts. The
 * certpin_pin_match series is left out when the probe failed.
 *
 * @param config - the policy configuration (the pin file's content).
 * @param target - `HOST`, `HOST:PORT` or `[IPv6]:PORT`, a host of the pin file.
 * @param options - connection options of {@link inspect} (`ca`, `timeout`, `resolve`…).
 * @throws {CertpinError} `ERR_CERTPIN_INVALID_CONFIG` for an invalid configuration, `ERR_CERTPIN_INVALID_INPUT`
 *   for a malformed target or one no entry matches; a failed probe is a series, not an error.
 * @example
 * ```js
 * import { probeMetrics } from 'certpin'
 * const text = await probeMetrics(config, 'api.example.com:8443', { timeout: 5000 })
 * ```
 */
export async function probeMetrics(config: PolicyConfig, target: string, options: InspectOptions = {}): Promise<string> {
  const validated = validatedOf(config);
  const parsed = parseProbeTarget(target);
  if (parsed === undefined) throw refuse(400, `target must be HOST, HOST:PORT or [IPv6]:PORT, got ${JSON.stringify(target)}`);
  let rules: HostRule[];
  try {
    rules = [...new Set(validated.index.lookup(normalizeHostname(parsed.host)))];
  } catch {
    rules = [];
  }
  if (rules.length === 0) throw refuse(404, `${parsed.host} matches no host entry of the pin file; /probe connects only to pinned hosts`);
  const port = parsed.port ?? rules.find((r) => r.port !== undefined)?.port ?? 443;
  const address = formatTarget(parsed.host, port);
  const started = performance.now();
  let result: InspectResult;
  try {
    // As a URL, so that inspect() never takes the target for a file.
    result = await inspect(`https://${address}/`, options);
  } catch (error) {
    result = { target: address, host: parsed.host, port, trusted: false, error: (error as Error).message, chain: [], unproven: [] };
  }
  const durationMs = performance.now() - started;
  return exposition(entryFamilies(validated, rules.map((rule) => ({ rule, probe: { entry: rule.key, target: address, reason: null, result, durationMs } }))));
}

/**
 * Probes every entry of a policy once and returns the Prometheus exposition text.
 *
 * @example
 * ```js
 * import { collectMetrics } from 'certpin'
 * const text = await collectMetrics(JSON.parse(readFileSync('pins.json', 'utf8')), { timeout: 5000 })
 * writeFileSync('/var/lib/node_exporter/textfile/certpin.prom', text)
 * ```
 */
export async function collectMetrics(config: PolicyConfig, options: MetricsOptions = {}): Promise<string> {
  validateConfig(config);
  const { now, ...probeOptions } = options;
  const started = now ?? Date.now();
  const probes = await probeEntries(config, probeOptions);
  return formatMetrics(config, probes, { now: started });
}

/**
 * Options of {@link serveMetrics}.
 *
 * @example
 * ```js
 * await serveMetrics({ host: '0.0.0.0', port: 9469, intervalMs: 60_000, load: () => readPinFile('pins.json').then((f) => f.document), onError: (e) => console.error(e) })
 * ```
 */
export interface MetricsServerOptions extends Omit<MetricsOptions, 'now'> {
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
  /**
   * Time between the end of one probe round and the start of the next, in milliseconds. 0: no rounds
   * at all (a fleet scraped through `/probe`), and `/metrics` serves the pin file's own series.
   * @default 300000
   */
  intervalMs?: number;
  /** Gives the policy for each round: re-reading the pin file here picks up its changes. */
  load: () => PolicyConfig | Promise<PolicyConfig>;
  /** Called when a round fails (the pin file became unreadable, say); the last good exposition stays served. */
  onError?: (error: unknown) => void;
}

/**
 * A running `/metrics` endpoint, from {@link serveMetrics}.
 *
 * @example
 * ```js
 * const server = await serveMetrics({ port: 0, load: () => config })
 * console.log(`scrape ${server.url}`)
 * process.once('SIGTERM', () => server.close())
 * ```
 */
export interface MetricsServer {
  /** `http://host:port/metrics`; `/probe?target=HOST[:PORT]`, `/` and `/-/healthy` are beside it. */
  readonly url: string;
  readonly port: number;
  /** Runs a probe round now (after the one in progress, if any). */
  refresh(): Promise<void>;
  /** Stops the rounds and the server, closing every connection. */
  close(): Promise<void>;
}

/**
 * Serves `/metrics` over HTTP, probing every entry of the policy each `intervalMs`. A scrape gets the
 * exposition of the last finished round (waiting for the first one), so scrapes never cause probes.
 * Beside it, `/probe?target=HOST[:PORT]` probes one host of the policy when scraped (blackbox_exporter's
 * multi-target pattern: Prometheus holds the target list and shards it), `/` is a landing page and
 * `/-/healthy` a health check. `/probe` refuses `config=` (no path from a query string is ever read)
 * and hosts that no entry matches (the exporter is no open TLS prober).
 *
 * @example
 * ```js
 * import { serveMetrics } from 'certpin'
 * const server = await serveMetrics({ port: 9469, intervalMs: 5 * 60_000, load: async () => JSON.parse(await readFile('pins.json', 'utf8')) })
 * console.log(`scrape ${server.url}`)
 * ```
 */
export async function serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
  const { host = '127.0.0.1', port = 0, intervalMs = 300_000, load, onError, ...probeOptions } = options;
  if (!Number.isFinite(intervalMs) || (intervalMs !== 0 && intervalMs < 1000)) throw new TypeError(`intervalMs must be 0 (no rounds) or at least 1000, got ${JSON.stringify(intervalMs)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`port must be 0-65535, got ${JSON.stringify(port)}`);
  const { concurrency = 8, onStart: _onStart, onProbe: _onProbe, ...inspectOptions } = probeOptions;
  const rounds = intervalMs > 0;
  let latest: string | undefined;
  let lastError: unknown;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let running: Promise<void> = Promise.resolve();
  const runRound = async () => {
    try {
      latest = await collectMetrics(await load(), probeOptions);
      lastError = undefined;
    } catch (error) {
      lastError = error;
      onError?.(error);
    }
  };
  const refresh = () => (running = running.then(runRound));
  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => void refresh().then(schedule), intervalMs);
  };
  const first = rounds ? refresh() : Promise.resolve();
  if (rounds) void first.then(schedule);

  // One load of the policy serves the /probe requests of the next second: a fleet's scrapes arrive
  // many at a time, and each reading the pin file again would cost more than the probe's own work.
  let probeLoad: { at: number; config: Promise<PolicyConfig> } | undefined;
  const loadForProbe = (): Promise<PolicyConfig> => {
    const now = Date.now();
    if (probeLoad === undefined || now - probeLoad.at >= 1000) {
      const config = Promise.resolve().then(load);
      probeLoad = { at: now, config };
      config.catch(() => {
        if (probeLoad?.config === config) probeLoad = undefined;
      });
    }
    return probeLoad.config;
  };

  // /probe requests in flight are bounded like the rounds' probes; the others wait their turn.
  let probing = 0;
  const waiting: Array<() => void> = [];
  const withSlot = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (probing >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    probing++;
    try {
      return await fn();
    } finally {
      probing--;
      waiting.shift()?.();
    }
  };

  const text = (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') => void res.writeHead(status, { 'content-type': type }).end(body);
  const exposed = (res: ServerResponse, head: boolean, body: string) => void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(head ? undefined : body);

  const probe = async (url: URL, req: IncomingMessage, res: ServerResponse, head: boolean) => {
    // An arbitrary path from a query string would let anyone who reaches the port make the exporter
    // read files; /probe works on the pin file given at start-up, and says so.
    if (url.searchParams.has('config')) {
      text(res, 400, 'config= is not accepted: /probe uses the pin file the exporter was started with (a path from a query string would let any client make it read files)\n');
      return;
    }
    const targets = url.searchParams.getAll('target');
    if (targets.length !== 1 || targets[0] === '') {
      text(res, 400, 'give exactly one target: /probe?target=HOST[:PORT]\n');
      return;
    }
    // Prometheus sends its scrape timeout; answering after it is pointless (blackbox_exporter does the same).
    const scrapeTimeout = Number(req.headers['x-prometheus-scrape-timeout-seconds']);
    const timeout = Number.isFinite(scrapeTimeout) && scrapeTimeout > 1 ? Math.min(inspectOptions.timeout ?? 10_000, (scrapeTimeout - 0.5) * 1000) : inspectOptions.timeout;
    let config: PolicyConfig;
    try {
      config = await loadForProbe();
    } catch (error) {
      onError?.(error);
      text(res, 503, `cannot load the pin file: ${(error as Error).message}\n`);
      return;
    }
    try {
      const body = await withSlot(() => probeMetrics(config, targets[0]!, timeout === undefined ? inspectOptions : { ...inspectOptions, timeout }));
      exposed(res, head, body);
    } catch (error) {
      text(res, PROBE_REFUSALS.get(error as Error) ?? 500, `${(error as Error).message}\n`);
    }
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    switch (url.pathname) {
      case '/':
        text(res, 200, LANDING_PAGE, 'text/html; charset=utf-8');
        return;
      case '/-/healthy':
        text(res, 200, 'certpin exporter is healthy\n');
        return;
      case '/probe':
        void probe(url, req, res, head).catch((error: unknown) => text(res, 500, `${(error as Error).message}\n`));
        return;
      case '/metrics':
        break;
      default:
        text(res, 404, 'not found: scrape /metrics, or /probe?target=HOST[:PORT]\n');
        return;
    }
    if (!rounds) {
      // No rounds of our own: the pin file's series, fresh; probing is /probe's job.
      void (async () => exposed(res, head, formatMetrics(await load(), [])))().catch((error: unknown) => {
        onError?.(error);
        text(res, 503, `cannot load the pin file: ${(error as Error).message}\n`);
      });
      return;
    }
    void first.then(() => {
      if (latest === undefined) {
        text(res, 503, `no probe round has succeeded yet: ${(lastError as Error | undefined)?.message ?? 'unknown error'}\n`);
        return;
      }
      exposed(res, head, latest);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${boundPort}/metrics`,
    port: boundPort,
    refresh,
    close() {
      closing ??= (async () => {
        closed = true;
        if (timer) clearTimeout(timer);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await running;
        if (timer) clearTimeout(timer);
      })();
      return closing;
    },
  };
}

/** `/`: what node_exporter and blackbox_exporter show there, a page of links. */
const LANDING_PAGE = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>certpin exporter</title></head>
<body>
<h1>certpin exporter</h1>
<p>Certificate pinning of the hosts of a pin file, for Prometheus.</p>
<ul>
<li><a href="metrics">/metrics</a>: every host entry (probe rounds, or with no rounds the pin file's own series)</li>
<li><a href="probe?target=api.example.com:443">/probe?target=HOST[:PORT]</a>: probe one host of the pin file now, as blackbox_exporter does</li>
<li><a href="-/healthy">/-/healthy</a>: health check</li>
</ul>
</body>
</html>
`;
