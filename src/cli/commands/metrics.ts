import { isIP } from 'node:net';
import { collectMetrics, serveMetrics } from '../../ops/metrics.js';
import { defineCommand, UsageError, untilStopped } from '../command.js';
import { NETWORK_OPTIONS, NETWORK_USAGE, networkOptions } from '../net.js';
import { readConfigFile } from '../pinfile.js';
import { concurrencyOf } from './pins.js';

function listenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || port > 65535 || (match[1] !== undefined && isIP(match[1]) !== 6)) {
    throw new UsageError(`--listen takes HOST:PORT or [IPv6]:PORT, e.g. 127.0.0.1:9469, got ${JSON.stringify(text)}`);
  }
  return { host, port };
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads a duration as Prometheus writes them (`30s`, `5m`, `1h30m`, `250ms`; a bare number is
 * seconds) and returns milliseconds: `--interval` takes them so. Throws a TypeError quoting anything
 * else. The library takes milliseconds (serveMetrics' `intervalMs`).
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

function intervalOf(text: string | undefined): number {
  if (text === undefined) return 5 * 60_000;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    throw new UsageError(`--interval: ${(error as Error).message}`);
  }
  if (ms !== 0 && ms < 1000) throw new UsageError(`--interval must be 0 (no rounds) or at least 1s, got ${JSON.stringify(text)}`);
  return ms;
}

export default defineCommand({
  name: 'metrics',
  summary: 'Prometheus metrics of the pinned hosts: probe success, pin match, chain expiry, pin counts',
  usage: `Usage: certpin metrics --config pins.json [--listen HOST:PORT [--interval 5m]] [options]

Probes every host entry of the pin file once and prints the Prometheus text exposition:
  certpin_probe_success{host,target}                        1 if the chain passed standard validation
  certpin_probe_duration_seconds{host,target}
  certpin_pin_match{host,target}                            1 if the verified chain carries a trusted pin
                                                            (absent when the probe failed)
  certpin_chain_earliest_expiry_timestamp_seconds{host,target}  the first expiry in the chain
  certpin_trusted_pins{host}, certpin_pending_pins{host}    active+backup, and pending_review pins
  certpin_pin_set_expiry_timestamp_seconds{host}            the entry's "expires"
With --listen, serves the same on http://HOST:PORT/metrics instead, probing every --interval and
re-reading the pin file each time, until interrupted (SIGINT or SIGTERM). A *. entry is probed only
when it has a "probeHost". Beside it, /probe?target=HOST[:PORT] probes one host of the pin file when
scraped (the blackbox_exporter pattern: Prometheus keeps the target list, relabels and shards it;
the entry's pins and port apply; hosts outside the pin file and config= are refused); with
--interval 0 there are no rounds and /metrics serves only the pin file's series. / is a landing
page, /-/healthy a health check.

Options:
  --config FILE              the pin file (required)
  --listen HOST:PORT         serve /metrics here (port 0 picks a free one; the URL goes to stderr)
  --interval DURATION        time between probe rounds when serving, e.g. 30s, 5m, 1h (default 5m);
                             0: no rounds, for a fleet scraped through /probe
  --concurrency N            probe at most N servers at once (default 8)
${NETWORK_USAGE}

Exit status: 0 when written (or served until interrupted), 2 on a usage error or an unreadable
or invalid pin file. A host that cannot be reached is a metric (probe success 0), not an error.

Examples:
  certpin metrics --config pins.json > /var/lib/node_exporter/textfile/certpin.prom
  certpin metrics --config pins.json --listen 127.0.0.1:9469 --interval 5m
  certpin metrics --config pins.json --listen 0.0.0.0:9469 --interval 0
  curl 'http://127.0.0.1:9469/probe?target=api.example.com:443'`,
  options: { ...NETWORK_OPTIONS, config: { type: 'string' }, listen: { type: 'string' }, interval: { type: 'string' }, concurrency: { type: 'string' } },
  allowPositionals: false,
  async run({ values, json, out }) {
    if (values.config === undefined) throw new UsageError('--config pins.json is required');
    if (json) throw new UsageError('metrics prints the Prometheus text format; --json is not available');
    if (values.interval !== undefined && values.listen === undefined) throw new UsageError('--interval applies only with --listen');
    const path = values.config;
    const listen = values.listen === undefined ? undefined : listenAddress(values.listen);
    const intervalMs = intervalOf(values.interval);
    const concurrency = concurrencyOf(values.concurrency);
    const network = networkOptions(values);
    const { document } = await readConfigFile(path);
    if (listen === undefined) {
      const text = await collectMetrics(document, { ...network, concurrency });
      out.lines(text.replace(/\n$/, '').split('\n'));
      return 0;
    }
    const server = await serveMetrics({
      ...network,
      concurrency,
      host: listen.host,
      port: listen.port,
      intervalMs,
      load: async () => (await readConfigFile(path)).document,
      onError: (error) => out.warn(`probe round failed, still serving the last good one: ${(error as Error).message}`),
    });
    // The signal handlers first: a SIGTERM sent the moment this line appears must stop it cleanly, and
    // the write can hand the CPU to the reader before the next statement runs.
    const stopped = untilStopped();
    out.note(`certpin: serving ${server.url} (${intervalMs === 0 ? 'no probe rounds; /probe?target=HOST[:PORT] probes on demand' : `probing every ${intervalMs / 1000}s`}); stop with Ctrl-C`);
    await stopped;
    await server.close();
    return 0;
  },
});
