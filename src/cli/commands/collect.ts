import { isIP } from 'node:net';
import { reportJsonLine, startCollector } from '../../index.js';
import { defineCommand, UsageError, untilStopped } from '../command.js';

function parseListen(text: string | undefined): { host: string; port: number } {
  if (text === undefined) throw new UsageError('collect needs --listen HOST:PORT, e.g. --listen 127.0.0.1:8080');
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || port > 65535 || (match[1] !== undefined && isIP(match[1]) !== 6)) {
    throw new UsageError(`--listen takes HOST:PORT or [IPv6]:PORT, got ${JSON.stringify(text)}`);
  }
  return { host, port };
}

export default defineCommand({
  name: 'collect',
  summary: 'receive RFC 7469 and TrustKit pin violation reports, one line per violation',
  usage: `Usage: certpin collect --listen HOST:PORT [--out reports.jsonl]

A small HTTP collector for pin violation reports: certpin's own (a host entry's reportUri), RFC 7469
(HPKP) and TrustKit ones. Point reportUri at http://HOST:PORT/. Each new violation is printed as one
line on stdout and appended to --out as one JSON line; an identical report seen again within 24 hours
is counted, not repeated. Reports are answered 204; anything but a POSTed JSON body is refused (405,
400, over 64 KiB 413). Runs until interrupted (Ctrl-C, SIGTERM).

Options:
  --listen HOST:PORT   the address to listen on; port 0 picks a free one (printed on stderr)
  --out FILE           append every new report to FILE as JSON lines
  --json               print each new report on stdout as one JSON line instead of text`,
  options: {
    listen: { type: 'string' },
    out: { type: 'string' },
  },
  allowPositionals: false,
  async run({ values, json, out }) {
    const { host, port } = parseListen(values.listen);
    const collector = await startCollector({
      host,
      port,
      ...(values.out === undefined ? {} : { out: values.out }),
      onReport: (report, line) => out.line(json ? reportJsonLine(report).slice(0, -1) : line),
    });
    // The signal handlers first: a SIGTERM sent the moment this line appears must stop it cleanly, and
    // the write can hand the CPU to the reader before the next statement runs.
    const stopped = untilStopped();
    out.note(`certpin: collecting violation reports at ${collector.url}${values.out === undefined ? '' : `, appending to ${values.out}`}`);
    await stopped;
    await collector.close();
    out.note(`certpin: ${collector.accepted} report${collector.accepted === 1 ? '' : 's'}, ${collector.duplicates} duplicate${collector.duplicates === 1 ? '' : 's'}, ${collector.refused} refused`);
    return 0;
  },
});
