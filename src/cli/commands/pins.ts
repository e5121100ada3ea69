import { inspect, type ChainEntry, type InspectResult } from '../../probe/inspect.js';
import { defineCommand, UsageError } from '../command.js';
import { NETWORK_OPTIONS, NETWORK_USAGE, networkOptions, parseTarget, STDIN_TARGET, targetPath } from '../net.js';
import { runTargets, type Output } from '../output.js';

const DEFAULT_CONCURRENCY = 8;

export default defineCommand({
  name: 'pins',
  summary: 'show the certificates of a server or file with their pins',
  usage: `Usage: certpin pins TARGET… [options]

Shows each certificate of the chain, leaf first: role, subject, issuer, validity, days left and pin.
For a server that passes standard validation this is the verified chain, proven link by link to a
trust anchor; otherwise it is the chain as served, marked untrusted with the reason. Served
certificates off the proven path are listed apart: they never count for pinning.

TARGET is host, host:port, [v6]:port, an https:// URL (port 443 by default), or a file holding
certificates (a bundle), a public or private key, or a CSR, in PEM or DER; - reads such a file from
standard input.

Options:
  --json                     print {"results":[{target, host, port, trusted, error, chain, unproven}]}
  --concurrency N            probe at most N servers at once (default ${DEFAULT_CONCURRENCY})
${NETWORK_USAGE}

Exit status: 0 when every target was read (trusted or not), 2 on a usage error, bad input or an\nunreachable server (the other targets are still shown).

Examples:
  certpin pins api.example.com
  certpin pins https://api.example.com:8443/ --json
  certpin pins server.pem backup-key.pem
  openssl s_client -connect api.example.com:443 -showcerts </dev/null | certpin pins -
  certpin pins api.example.com --resolve api.example.com:443:10.0.0.5 --ca corp-root.pem`,
  options: { ...NETWORK_OPTIONS, concurrency: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    if (positionals.length === 0) throw new UsageError('give at least one TARGET (host, host:port, URL or file)');
    const options = networkOptions(values);
    const concurrency = concurrencyOf(values.concurrency);
    for (const target of positionals) targetPath(target, positionals);
    let printed = 0;
    // One unreachable server or bad file must not hide the others: each failure becomes its result.
    // Text streams: each result is printed once it and every one before it are done.
    const results = await runTargets(out, 'pins', positionals, concurrency, async (target) => {
      const path = targetPath(target, positionals);
      const result = await inspect(path, options).catch((error: unknown) => failedResult(target, error));
      if (target === STDIN_TARGET) Object.assign(result, { target, error: result.error?.replaceAll(path, 'standard input') ?? null });
      return result;
    }, (result) => {
      if (json) return;
      if (isFailure(result)) out.note(`certpin: ${(result.error ?? '').replace(/\n+/g, ' ')}`);
      else printResult(out, result, printed++ > 0);
    });
    const failed = results.filter(isFailure);
    if (json) {
      for (const result of failed) out.note(`certpin: ${(result.error ?? '').replace(/\n+/g, ' ')}`);
      out.json({ results });
    }
    return failed.length > 0 ? 2 : 0;
  },
});

const isFailure = (result: InspectResult): boolean => result.chain.length === 0 && result.error !== null;

function failedResult(target: string, error: unknown): InspectResult {
  let server: { host: string; port: number } | undefined;
  try {
    const parsed = parseTarget(target);
    if (parsed.kind === 'server') server = parsed;
  } catch {
    // the error below already says why the target is bad
  }
  const message = error instanceof Error ? error.message : String(error);
  return { target, host: server?.host ?? null, port: server?.port ?? null, trusted: false, error: message, chain: [], unproven: [] };
}

export function concurrencyOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CONCURRENCY;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--concurrency takes a positive number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function validity(entry: ChainEntry, out: Output): string {
  if (entry.notBefore === null || entry.notAfter === null || entry.daysLeft === null) return '';
  const days = entry.daysLeft;
  const left = days < 0 ? out.style.red(`expired ${-days} day${days === -1 ? '' : 's'} ago`) : `${days} day${days === 1 ? '' : 's'} left`;
  const colored = days >= 0 && days < 30 ? out.style.yellow(left) : left;
  return `${entry.notBefore.slice(0, 10)} to ${entry.notAfter.slice(0, 10)} (${colored})`;
}

function entryRows(entry: ChainEntry, out: Output): string[][] {
  const rows: string[][] = [[out.style.bold(entry.role), out.style.bold(entry.subject)]];
  if (entry.issuer !== null) rows.push(['  issuer', entry.issuer]);
  const valid = validity(entry, out);
  if (valid) rows.push(['  valid', valid]);
  rows.push(['  pin', out.style.cyan(entry.pin)]);
  return rows;
}

function printResult(out: Output, result: InspectResult, blankBefore: boolean): void {
  if (blankBefore) out.line();
  let heading: string;
  if (result.host === null) heading = result.target;
  else {
    const host = result.host.includes(':') ? `[${result.host}]` : result.host;
    const status = result.trusted ? out.style.green('trusted: verified chain') : out.style.red(`untrusted: ${result.error ?? 'not validated'}; chain as served`);
    heading = `${host}:${result.port}  ${status}`;
  }
  out.line(out.style.bold(heading));
  // One table for the whole result, so every certificate's columns line up.
  const rows = result.chain.flatMap((entry) => entryRows(entry, out));
  const unprovenStart = rows.length;
  rows.push(...result.unproven.flatMap((entry) => entryRows(entry, out)));
  const lines = out.table(rows, { indent: '  ' });
  out.lines(lines.slice(0, unprovenStart));
  if (result.unproven.length > 0) {
    out.line(out.style.yellow('  served but not on the proven path (never counts for pinning):'));
    out.lines(lines.slice(unprovenStart));
  }
}
