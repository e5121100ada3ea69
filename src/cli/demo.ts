// `certpin demo`: an offline showcase. A throwaway PKI, a local api.example.test, and the two attacks
// pinning exists for — a corporate TLS-inspecting proxy and a DNS hijack with a fraudulent certificate
// from a CA the machine trusts — each fooling an ordinary client and refused by a pinned one. Every
// step checks its own outcome, so the demo doubles as an end-to-end test (it exits non-zero otherwise).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LookupFunction } from 'node:net';
import { Agent, ProxyAgent, fetch as undiciFetch } from 'undici';
import { createCertificate } from '../lib/x509.js';
import { createPolicy, type PinPolicy } from '../policy/policy.js';
import { pinnedFetch } from '../transports/undici.js';
import { inspect } from '../probe/inspect.js';
import { spkiPin } from '../policy/pin.js';
import { rotatePins } from '../pinfile/rotate.js';
import { approvePin } from '../pinfile/edit.js';
import { loadPolicy } from '../pinfile/load.js';
import { setTimeout as delay } from 'node:timers/promises';

export interface DemoOutput {
  heading(text: string): void;
  line(text: string): void;
  ok(text: string): void;
  fail(text: string): void;
}

const HOST = 'api.example.test';
const SECRET = 'Bearer demo-secret-token';

interface Authority {
  subject: string;
  key: KeyObject;
  pem: string;
}

const newKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function authority(subject: string, parent?: Authority): Authority {
  const key = newKey();
  const { pem } = createCertificate({ subject, publicKey: key, ca: true, ...(parent ? { issuer: { subject: parent.subject, privateKey: parent.key } } : {}) });
  return { subject, key, pem };
}

function serverIdentity(issuer: Authority, chainAbove: string[] = []): { key: string; cert: string; pin: string } {
  const key = newKey();
  const { pem } = createCertificate({
    subject: `CN=${HOST}`,
    publicKey: key,
    issuer: { subject: issuer.subject, privateKey: issuer.key },
    dnsNames: [HOST],
  });
  return { key: key.export({ type: 'pkcs8', format: 'pem' }) as string, cert: [pem, issuer.pem, ...chainAbove].join(''), pin: spkiPin(pem) };
}

interface Recorded {
  authorization: string[];
}

async function listen(server: HttpsServer | ReturnType<typeof createHttpServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function recordingHandler(recorded: Recorded, body: string) {
  return (req: IncomingMessage, res: import('node:http').ServerResponse): void => {
    recorded.authorization.push(String(req.headers.authorization ?? ''));
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(body);
  };
}

/** A resolver for the demo's pretend DNS: names map to loopback, and the attacker can repoint them. */
function pretendDns(table: Map<string, number>): { lookup: LookupFunction; portOf: (name: string) => number } {
  const lookup = ((hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    const cb = typeof options === 'function' ? (options as typeof callback) : callback;
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
    if (!table.has(hostname)) return void cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    if (all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  }) as LookupFunction;
  return { lookup, portOf: (name) => table.get(name)! };
}

/**
 * Runs the demo, writing to `out`. Resolves to true when every step behaved as shown.
 */
export async function runDemo(out: DemoOutput): Promise<boolean> {
  const cleanups: Array<() => Promise<void> | void> = [];
  let allGood = true;
  const expect = (condition: boolean, good: string, bad: string): void => {
    if (condition) out.ok(good);
    else {
      allGood = false;
      out.fail(bad);
    }
  };
  try {
    out.heading('0. A throwaway PKI, as the world looks to this machine');
    const exampleRoot = authority('CN=Example Root CA,O=Example Trust Services');
    const issuing1 = authority('CN=Example Issuing CA 1,O=Example Trust Services', exampleRoot);
    const issuing2 = authority('CN=Example Issuing CA 2,O=Example Trust Services', exampleRoot);
    const corporateRoot = authority('CN=Corp TLS Inspection Root,O=Example Corp IT');
    const coercedRoot = authority('CN=Coerced Government CA,O=Somewhere');
    const osTrustStore = [exampleRoot.pem, corporateRoot.pem, coercedRoot.pem];
    const backupKey = newKey();
    const backupPin = spkiPin(backupKey);
    out.line(`The "operating system" trusts three roots: ${exampleRoot.subject}, ${corporateRoot.subject} (pushed by the`);
    out.line(`company's IT to inspect TLS) and ${coercedRoot.subject}. Any of them can vouch for ${HOST}.`);

    const genuine = serverIdentity(issuing1);
    const apiSeen: Recorded = { authorization: [] };
    const api = createHttpsServer({ key: genuine.key, cert: genuine.cert }, recordingHandler(apiSeen, '{"balance":"1,024.00 EUR","from":"the real api"}'));
    const apiPort = await listen(api);
    cleanups.push(() => closeServer(api));
    const dns = new Map([[HOST, apiPort]]);
    const { lookup } = pretendDns(dns);
    const url = (): string => `https://${HOST}:${dns.get(HOST)}/balance`;
    out.line(`${HOST} is served on 127.0.0.1:${apiPort} by a certificate from ${issuing1.subject}.`);

    out.heading(`1. The pins of ${HOST} (certpin pins ${HOST}:${apiPort})`);
    const inspected = await inspect(`${HOST}:${apiPort}`, { ca: osTrustStore, resolve: [`${HOST}:${apiPort}:127.0.0.1`] });
    for (const entry of inspected.chain) out.line(`  ${entry.role.padEnd(12)} ${entry.pin}  ${entry.subject}`);
    const intermediatePin = inspected.chain.find((e) => e.role === 'intermediate')?.pin;
    expect(inspected.trusted && intermediatePin !== undefined, 'chain verified; we pin the intermediate (it survives leaf renewals) plus an offline backup key', 'could not read the chain of the local server');
    const policy: PinPolicy = createPolicy({
      hosts: { [HOST]: { pins: [intermediatePin ?? backupPin, { pin: backupPin, status: 'backup' }] } },
      ca: osTrustStore,
    });

    const pinnedClient = (extra: Record<string, unknown> = {}): typeof fetch =>
      pinnedFetch(policy, { connect: { lookup }, ...extra }) as typeof fetch;
    const unpinnedDispatcher = new Agent({ connect: { ca: osTrustStore, lookup } });
    cleanups.push(() => unpinnedDispatcher.close());
    const request = { headers: { authorization: SECRET } };

    out.heading('2. A pinned request');
    const first = await attempt(() => pinnedClient()(url(), request));
    expect(first.ok && first.body.includes('the real api'), `200 from the real api: ${first.body}`, `the pinned request failed: ${first.error}`);

    out.heading('3. A corporate TLS-inspecting proxy, whose root the machine trusts');
    const corporate = await startInterceptingProxy(serverIdentity(corporateRoot), lookup, osTrustStore, () => dns.get(HOST)!);
    cleanups.push(() => corporate.close());
    const viaProxyUnpinned = new ProxyAgent({ uri: corporate.url, requestTls: { ca: osTrustStore } });
    cleanups.push(() => viaProxyUnpinned.close());
    const fooled = await attempt(() => undiciFetch(url(), { ...request, dispatcher: viaProxyUnpinned }) as unknown as Promise<Response>);
    expect(fooled.ok && corporate.seen.authorization.includes(SECRET), `ordinary client: 200, and the proxy read its token "${SECRET}"`, 'the ordinary client was not fooled: the attack did not take place');
    corporate.seen.authorization.length = 0;
    const refused = await attempt(() => pinnedClient({ proxy: corporate.url })(url(), request));
    expect(!refused.ok && refused.code === 'ERR_CERTPIN_MISMATCH' && corporate.seen.authorization.length === 0, 'pinned client: refused during the handshake, zero bytes of the request reached the proxy:', `the pinned client was not refused as it should be (${refused.error})`);
    if (refused.message) out.line(indent(refused.message));

    out.heading('4. A DNS hijack with a fraudulent certificate from a coerced CA');
    const attackerSeen: Recorded = { authorization: [] };
    const fraudulent = serverIdentity(coercedRoot);
    const attacker = createHttpsServer({ key: fraudulent.key, cert: fraudulent.cert }, recordingHandler(attackerSeen, '{"balance":"0.00 EUR","from":"the attacker"}'));
    const attackerPort = await listen(attacker);
    cleanups.push(() => closeServer(attacker));
    dns.set(HOST, attackerPort);
    out.line(`${HOST} now resolves to the attacker's server on port ${attackerPort}.`);
    const hijackAgent = new Agent({ connect: { ca: osTrustStore, lookup } });
    cleanups.push(() => hijackAgent.close());
    const hijacked = await attempt(() => undiciFetch(url(), { ...request, dispatcher: hijackAgent }) as unknown as Promise<Response>);
    expect(hijacked.ok && attackerSeen.authorization.includes(SECRET), `ordinary client: 200 "${hijacked.body}", token handed to the attacker`, 'the ordinary client was not fooled: the attack did not take place');
    attackerSeen.authorization.length = 0;
    const refusedHijack = await attempt(() => pinnedClient()(url(), request));
    expect(!refusedHijack.ok && refusedHijack.code === 'ERR_CERTPIN_MISMATCH' && attackerSeen.authorization.length === 0, 'pinned client: refused, the attacker received nothing:', `the pinned client was not refused (${refusedHijack.error})`);
    if (refusedHijack.message) out.line(indent(refusedHijack.message));
    dns.set(HOST, apiPort);

    out.heading('5. A routine leaf renewal under the same intermediate');
    const renewed = serverIdentity(issuing1);
    api.setSecureContext({ key: renewed.key, cert: renewed.cert });
    const afterRenewal = await attempt(() => pinnedClient()(url(), request));
    expect(afterRenewal.ok, 'new leaf key, same pinned intermediate: the pinned request still succeeds', `the renewal broke the pinned client (${afterRenewal.error})`);

    out.heading('6. A new intermediate: detected before it breaks anything');
    const dir = await mkdtemp(join(tmpdir(), 'certpin-demo-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const moved = serverIdentity(issuing2);
    api.setSecureContext({ key: moved.key, cert: moved.cert });
    out.line(`The operator of ${HOST} moves to ${issuing2.subject}.`);
    const file = join(dir, 'pins.json');
    await writeFile(file, `${JSON.stringify({ version: 1, hosts: { [HOST]: { port: apiPort, pins: [{ pin: intermediatePin ?? backupPin, status: 'active' }, { pin: backupPin, status: 'backup' }] } } }, null, 2)}\n`);
    const app = await loadPolicy(file, { watch: true, ca: osTrustStore });
    cleanups.push(() => app.close());
    const appFetch = (): Promise<Response> => (pinnedFetch(app, { connect: { lookup } }) as typeof fetch)(url(), request);
    out.line('The application now reads its pins from pins.json and watches the file.');
    const rotation = await rotatePins(file, { inspect: { ca: osTrustStore, resolve: [`${HOST}:${apiPort}:127.0.0.1`] } });
    out.line('  $ certpin rotate --config pins.json');
    for (const r of rotation.results) out.line(`  ${r.host}: ${r.action}${r.pin ? ` ${r.pin}` : ''}`);
    out.line(`  exit ${rotation.exitCode}`);
    const newPin = rotation.results.find((r) => r.action === 'new_pin_detected')?.pin ?? null;
    expect(rotation.exitCode === 1 && newPin !== null, 'rotate found the new intermediate and holds it as pending_review (exit 1: a human decides)', 'rotate did not detect the new intermediate');
    const beforeApproval = await attempt(appFetch);
    expect(!beforeApproval.ok && beforeApproval.code === 'ERR_CERTPIN_MISMATCH', 'until approved, the pinned application refuses the new chain', `the pinned application did not refuse an unapproved pin (${beforeApproval.error})`);
    if (newPin !== null) {
      await approvePin(file, HOST, newPin);
      out.line(`  $ certpin approve ${HOST} ${newPin} --config pins.json`);
      const trusted = (): boolean => app.rulesFor(HOST).some((rule) => rule.trustedPins.includes(newPin));
      for (let waited = 0; !trusted() && waited < 5000; waited += 50) await delay(50);
      const afterApproval = await attempt(appFetch);
      expect(afterApproval.ok, 'the running application picked up the approval without a restart: 200', `the approved pin was not accepted (${afterApproval.error})`);
    }
  } catch (error) {
    allGood = false;
    out.fail(`the demo stopped: ${(error as Error).message}`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // cleaning up the rest matters more
      }
    }
  }
  out.heading(allGood ? 'Every step behaved as shown. Everything was cleaned up.' : 'Some step did not behave as shown.');
  return allGood;
}

const indent = (text: string): string => text.split('\n').map((l) => `      ${l}`).join('\n');

interface Attempt {
  ok: boolean;
  body: string;
  error: string;
  code: string | undefined;
  message: string | undefined;
}

async function attempt(run: () => Promise<Response>): Promise<Attempt> {
  try {
    const response = await run();
    const body = await response.text();
    return { ok: response.ok, body, error: '', code: undefined, message: undefined };
  } catch (error) {
    let cause: unknown = error;
    while (cause instanceof Error && !(cause as { code?: string }).code?.startsWith('ERR_CERTPIN') && cause.cause) cause = cause.cause;
    const err = cause as Error & { code?: string };
    return { ok: false, body: '', error: err.message, code: err.code, message: err.code?.startsWith('ERR_CERTPIN') ? err.message : undefined };
  }
}

async function closeServer(server: { close(cb?: () => void): unknown; closeAllConnections?: () => void }): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * A CONNECT proxy that, like a TLS-inspecting corporate gateway, terminates TLS with a certificate it
 * mints for the requested host from its own root, reads the request, and forwards it to the origin.
 */
async function startInterceptingProxy(identity: { key: string; cert: string }, lookup: LookupFunction, ca: string[], originPort: () => number) {
  const seen: Recorded = { authorization: [] };
  const interceptor = createHttpsServer(identity, (req, res) => {
    seen.authorization.push(String(req.headers.authorization ?? ''));
    const upstream = httpsRequest({ host: HOST, port: originPort(), path: req.url, method: req.method, headers: req.headers, ca, lookup }, (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const interceptorPort = await listen(interceptor);
  const sockets = new Set<Socket>();
  const proxy = createHttpServer();
  proxy.on('connect', (_req: IncomingMessage, client: Socket, head: Buffer) => {
    const inner = netConnect(interceptorPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) inner.write(head);
      client.pipe(inner).pipe(client);
    });
    for (const s of [client, inner]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
  });
  const proxyPort = await listen(proxy);
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    seen,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([closeServer(proxy), closeServer(interceptor)]);
    },
  };
}
