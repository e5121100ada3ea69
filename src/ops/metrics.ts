import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import { validateConfig, type PolicyConfig } from '../config.js';
import { probeEntries, type EntryProbe, type ProbeEntriesOptions } from './round.js';

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

/**
 * The Prometheus exposition of one probe round: per host entry, whether the probe succeeded (the chain
 * passed standard validation), whether its verified chain carries a trusted pin, when the first
 * certificate of the chain expires, and how many pins are trusted or pending review. Pure: the probes
 * come from {@link probeEntries}.
 *
 * @example
 * ```js
 * import { formatMetrics, probeEntries } from 'certpin'
 * const probes = await probeEntries(config, { concurrency: 4 })
 * process.stdout.write(formatMetrics(config, probes))
 * ```
 */
export function formatMetrics(config: PolicyConfig, probes: readonly EntryProbe[], options: { now?: Date | number } = {}): string {
  const { rules } = validateConfig(config);
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  const family = (name: string, help: string): Family => ({ name, help, samples: [] });
  const success = family('certpin_probe_success', 'Whether the last probe connected and the chain passed standard validation (1) or not (0).');
  const duration = family('certpin_probe_duration_seconds', 'How long the last probe took.');
  const match = family('certpin_pin_match', 'Whether the verified chain of the last probe carries a trusted pin of the host entry (1) or not (0).');
  const expiry = family('certpin_chain_earliest_expiry_timestamp_seconds', 'When the first certificate of the probed chain expires, in seconds since the Unix epoch.');
  const trusted = family('certpin_trusted_pins', 'Pins of the host entry that are trusted (active or backup).');
  const pending = family('certpin_pending_pins', 'Pins of the host entry waiting for review (pending_review).');
  const pinSetExpiry = family('certpin_pin_set_expiry_timestamp_seconds', 'When the pins of the host entry stop being enforced (its "expires"), in seconds since the Unix epoch.');
  const round = family('certpin_probe_round_timestamp_seconds', 'When this probe round started, in seconds since the Unix epoch.');
  const probeByEntry = new Map(probes.map((p) => [p.entry, p]));
  for (const rule of rules) {
    const host = { host: rule.key };
    trusted.samples.push({ labels: host, value: rule.trustedPins.length });
    pending.samples.push({ labels: host, value: rule.pins.filter((p) => p.status === 'pending_review').length });
    if (rule.expiresAt !== undefined) pinSetExpiry.samples.push({ labels: host, value: Math.floor(rule.expiresAt / 1000) });
    const probe = probeByEntry.get(rule.key);
    if (probe?.result == null || probe.target === null) continue;
    const labels = { host: rule.key, target: probe.target };
    const { result } = probe;
    success.samples.push({ labels, value: result.trusted ? 1 : 0 });
    duration.samples.push({ labels, value: Math.round(probe.durationMs) / 1000 });
    match.samples.push({ labels, value: result.trusted && result.chain.some((e) => rule.trustedPins.includes(e.pin)) ? 1 : 0 });
    const times = result.chain.map((e) => (e.notAfter === null ? Number.NaN : Date.parse(e.notAfter))).filter((t) => !Number.isNaN(t));
    if (times.length > 0) expiry.samples.push({ labels, value: Math.floor(Math.min(...times) / 1000) });
  }
  round.samples.push({ labels: {}, value: Math.floor(now / 1000) });
  return exposition([success, duration, match, expiry, trusted, pending, pinSetExpiry, round]);
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
  /** Time between the end of one probe round and the start of the next, in milliseconds. @default 300000 */
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
  /** `http://host:port/metrics`. */
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
  if (!Number.isFinite(intervalMs) || intervalMs < 1000) throw new TypeError(`intervalMs must be at least 1000, got ${JSON.stringify(intervalMs)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`port must be 0-65535, got ${JSON.stringify(port)}`);
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
  const first = refresh();
  void first.then(schedule);

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: scrape /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    void first.then(() => {
      if (latest === undefined) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`no probe round has succeeded yet: ${(lastError as Error | undefined)?.message ?? 'unknown error'}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : latest);
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

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads a duration as Prometheus writes them (`30s`, `5m`, `1h30m`, `250ms`; a bare number is
 * seconds) and returns milliseconds. Throws a TypeError quoting anything else.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) {
    throw new TypeError(`not a duration: ${JSON.stringify(text)}; use e.g. 30s, 5m or 1h`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
}
