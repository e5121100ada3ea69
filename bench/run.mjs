// `npm run bench`: what pinning costs (docs/performance.md, G7), measured in one run against the same client
// unpinned. Rounds of pinned and unpinned work alternate (and swap which goes first) so that warm-up,
// GC and CPU frequency drift hit both alike; the medians of the rounds are compared.
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { generateKeyPairSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Agent, buildConnector, request } from 'undici';
import { createPolicy, pinnedDispatcher, spkiPin } from '../build/src/index.js';
import { createCertificate } from '../build/src/lib/x509.js';
import { formatRegisterStartup, measureRegisterStartup } from './register-startup.mjs';
import { formatCliStartup, measureCliStartup } from './startup.mjs';
import { median } from './timing.mjs';

const started = performance.now();
const key = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const rootKey = key();
const intKey = key();
const leafKey = key();
const root = createCertificate({ subject: 'CN=bench Root', publicKey: rootKey, ca: true });
const intermediate = createCertificate({ subject: 'CN=bench Intermediate', publicKey: intKey, issuer: { subject: 'CN=bench Root', privateKey: rootKey }, ca: true });
const leaf = createCertificate({ subject: 'CN=localhost', publicKey: leafKey, issuer: { subject: 'CN=bench Intermediate', privateKey: intKey }, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });

const server = https.createServer({ key: leafKey.export({ type: 'pkcs8', format: 'pem' }), cert: leaf.pem + intermediate.pem }, (_req, res) => res.end('ok'));
const handshakes = { full: 0, resumed: 0 };
server.on('secureConnection', (socket) => { handshakes[socket.isSessionReused() ? 'resumed' : 'full']++; });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
// An IP literal: `localhost` may resolve to ::1 first, and the failed attempt would dwarf the TLS cost.
const url = `https://127.0.0.1:${port}/`;


async function runRequests(dispatcher, count, concurrency, options) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const res = await request(url, { dispatcher, ...options });
      await res.body.text();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (performance.now() - t0) / count; // ms per request
}

/**
 * Interleaved rounds, each running both sides back to back (in alternating order); returns the median
 * ms per request of each side and the median of the per-round ratios, which cancels slow drifts of a
 * shared machine better than a ratio of medians.
 */
async function compare({ rounds, count, concurrency, options }, unpinned, pinned) {
  const times = { unpinned: [], pinned: [] };
  await runRequests(unpinned, count, concurrency, options); // warm-up both
  await runRequests(pinned, count, concurrency, options);
  const ratios = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['unpinned', 'pinned'] : ['pinned', 'unpinned'];
    for (const side of order) times[side].push(await runRequests(side === 'pinned' ? pinned : unpinned, count, concurrency, options));
    ratios.push(times.unpinned.at(-1) / times.pinned.at(-1));
  }
  return { unpinned: median(times.unpinned), pinned: median(times.pinned), ratio: median(ratios) };
}

const ca = [root.pem];
const intermediatePin = spkiPin(intermediate.certificate);
const policy = createPolicy({ ca, hosts: { '127.0.0.1': { pins: [intermediatePin] } } });

const rows = [];
let resumption = '';
let updateRow = '';
const row = (name, unpinnedMs, pinnedMs, target, ratio) => {
  // ratio: throughput pinned / unpinned
  rows.push([name, `${(unpinnedMs * 1000).toFixed(1)} µs`, `${(pinnedMs * 1000).toFixed(1)} µs`, ratio.toFixed(3), `≥ ${target}`, ratio >= target ? 'ok' : 'BELOW']);
};

{
  const unpinned = new Agent({ connect: { ca } });
  const pinned = pinnedDispatcher(policy);
  const r = await compare({ rounds: 21, count: 600, concurrency: 4, options: {} }, unpinned, pinned);
  row('keep-alive request', r.unpinned, r.pinned, 0.99, r.ratio);
  await Promise.all([unpinned.close(), pinned.close()]);
}
{
  // A new connection per request (`reset: true` closes it after the response); both sides resume the
  // TLS session they cached, which is what a busy client does.
  // undici drops an origin's pool (and the session cache of a connector it built) when its last
  // connection closes; the pinned dispatcher shares one connector per policy version, so the unpinned
  // Agent gets a shared connector too: both resume.
  // The pinned dispatcher also shares one TLS context per policy version; the unpinned side gets one
  // too, so that the ratio measures pinning and not context creation.
  const unpinned = new Agent({ connect: buildConnector({ secureContext: createSecureContext({ ca }) }) });
  const pinned = pinnedDispatcher(policy);
  handshakes.full = handshakes.resumed = 0;
  const r = await compare({ rounds: 20, count: 50, concurrency: 1, options: { reset: true } }, unpinned, pinned);
  row('new connection (resumed)', r.unpinned, r.pinned, 0.97, r.ratio);
  resumption = `${handshakes.resumed} of ${handshakes.full + handshakes.resumed} new connections resumed a TLS session`;
  await Promise.all([unpinned.close(), pinned.close()]);
}
{
  // G2/G7: with one policy.update() per 1,000 keep-alive requests (an update that keeps the pin, as
  // a pin file reload that changes another host does), the pinned dispatcher re-checks its open
  // connections and sessions and keeps them: no handshake, no failed request.
  const config = { ca, hosts: { '127.0.0.1': { pins: [intermediatePin] }, 'other.example.com': { pins: [intermediatePin] } } };
  const updating = createPolicy(config);
  const unpinned = new Agent({ connect: { ca } });
  const pinned = pinnedDispatcher(updating);
  const sides = { unpinned: { dispatcher: unpinned, times: [], failed: 0, full: 0 }, pinned: { dispatcher: pinned, times: [], failed: 0, full: 0, updates: 0 } };
  let sent = 0;
  const run = async (side, count) => {
    const s = sides[side];
    const fullBefore = handshakes.full;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next++;
        if (side === 'pinned' && ++sent % 1000 === 0) {
          updating.update(config);
          s.updates++;
        }
        try {
          const res = await request(url, { dispatcher: s.dispatcher });
          await res.body.text();
        } catch {
          s.failed++;
        }
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 4 }, worker));
    s.full += handshakes.full - fullBefore;
    return (performance.now() - t0) / count;
  };
  await run('unpinned', 2000);
  await run('pinned', 2000);
  const ratios = [];
  for (let r = 0; r < 15; r++) {
    for (const side of r % 2 === 0 ? ['unpinned', 'pinned'] : ['pinned', 'unpinned']) sides[side].times.push(await run(side, 3000));
    ratios.push(sides.unpinned.times.at(-1) / sides.pinned.times.at(-1));
  }
  const ratio = median(ratios);
  rows.push([
    'keep-alive, policy.update() per 1,000',
    `${(median(sides.unpinned.times) * 1000).toFixed(1)} µs`,
    `${(median(sides.pinned.times) * 1000).toFixed(1)} µs`,
    ratio.toFixed(3),
    '≥ 0.95, 0 failed',
    ratio >= 0.95 && sides.pinned.failed === 0 ? 'ok' : 'BELOW',
  ]);
  updateRow = `${sides.pinned.updates} updates: failed requests ${sides.pinned.failed} pinned, ${sides.unpinned.failed} unpinned; full handshakes ${sides.pinned.full} pinned, ${sides.unpinned.full} unpinned`;
  await Promise.all([unpinned.close(), pinned.close()]);
}
server.close();
server.closeAllConnections?.();

// In-process costs, independent of the number of host patterns.
function timeOp(fn, iterations) {
  const samples = [];
  for (let round = 0; round < 7; round++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) fn(i);
    samples.push(((performance.now() - t0) * 1e6) / iterations); // ns per op
  }
  return median(samples);
}

const micro = [];
for (const size of [1_000, 100_000]) {
  const hosts = {};
  for (let i = 0; i < size - 3; i++) {
    const base = `host${i}.example${i % 97}.com`;
    hosts[i % 3 === 0 ? base : i % 3 === 1 ? `*.${base}` : `**.${base}`] = { pins: [intermediatePin] };
  }
  hosts['api.example.com'] = { pins: [intermediatePin] };
  hosts['*.example.com'] = { pins: [intermediatePin] };
  hosts['**.example.org'] = { pins: [intermediatePin] };
  hosts.localhost = { pins: [intermediatePin] };
  const big = createPolicy({ ca, hosts });
  const names = ['api.example.com', 'www.example.com', 'a.b.example.org', 'miss.example.net', `x.host${size - 10}.example${(size - 10) % 97}.com`];
  const lookup = timeOp((i) => big.rulesFor(names[i % names.length]), 200_000);
  const chain = [leaf.certificate, intermediate.certificate];
  if (!big.check('localhost', chain).ok) throw new Error('bench policy does not accept its own chain');
  const check = timeOp(() => big.check('localhost', chain), 50_000);
  micro.push([`host lookup, ${size.toLocaleString('en')} patterns`, `${(lookup / 1000).toFixed(3)} µs`, '< 2 µs', lookup < 2000 ? 'ok' : 'ABOVE']);
  micro.push([`policy.check, proven chain, ${size.toLocaleString('en')} patterns`, `${(check / 1000).toFixed(3)} µs`, '< 20 µs', check < 20_000 ? 'ok' : 'ABOVE']);
}

function table(header, body) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(line(r));
  console.log();
}

console.log(`certpin bench, Node ${process.version}, undici Agent pinned vs unpinned, one local HTTPS server (medians of interleaved rounds)\n`);
table(['transport', 'unpinned/req', 'pinned/req', 'ratio (pinned throughput / unpinned)', 'target', ''], rows);
console.log(`(${resumption}; with updates: ${updateRow})\n`);
table(['in-process', 'median', 'target', ''], micro);
const startupRuns = 15;
console.log(`\n${formatRegisterStartup(measureRegisterStartup({ runs: startupRuns }), startupRuns)}\n`);
console.log(`${formatCliStartup(measureCliStartup({ runs: startupRuns }), startupRuns)}\n`);
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
