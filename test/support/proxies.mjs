// Real proxies for transport tests: tinyproxy (a corporate HTTP CONNECT proxy) and mitmproxy's mitmdump
// (an intercepting proxy, as a CONNECT proxy or as a reverse proxy after a DNS hijack). Both are started
// on a free loopback port with a throwaway config, and stop() kills them; a missing binary makes the
// test fail, never skip.
import { spawn } from 'node:child_process';
import { after } from 'node:test';
import { connect, createServer } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Found on PATH, where the package manager (or the developer) put them.
export const TINYPROXY = 'tinyproxy';
export const MITMDUMP = 'mitmdump';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback port that was free a moment ago. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits until something listens on 127.0.0.1:port, at most `timeoutMs`: polling every 10 ms at first
 * (tinyproxy listens within a few), backing off to every 100 ms (mitmdump takes seconds).
 */
export async function waitForPort(port, { timeoutMs = 20_000, child, output = () => '' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (let interval = 10; Date.now() < deadline; interval = Math.min(interval * 2, 100)) {
    if (child && child.exitCode !== null) throw new Error(`the process exited (${child.exitCode}) before listening on ${port}:\n${output()}`);
    if (await canConnect(port)) return;
    await sleep(interval);
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms:\n${output()}`);
}

function launch(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  const spawned = new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => reject(new Error(`cannot start ${command}: ${error.message} (is it installed?)`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  };
  return { child, spawned, stop, output: () => output };
}

/**
 * Starts tinyproxy on a free loopback port, as a CONNECT proxy that allows any port. Returns
 * `{ port, url, log(), stop() }`; `log()` reads its log, which names every CONNECT it served.
 */
export async function startTinyproxy() {
  const dir = await mkdtemp(join(tmpdir(), 'certpin-tinyproxy-'));
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const config = join(dir, 'tinyproxy.conf');
  await writeFile(config, [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'MaxClients 50',
    'Allow 127.0.0.1',
    `LogFile "${logFile}"`,
    'LogLevel Connect',
    `PidFile "${join(dir, 'tinyproxy.pid')}"`,
    '', // no ConnectPort line: CONNECT to any port (the test servers listen on random ones)
  ].join('\n'));
  const proc = launch(TINYPROXY, ['-d', '-c', config]);
  await proc.spawned;
  try {
    await waitForPort(port, { timeoutMs: 10_000, child: proc.child, output: proc.output });
  } catch (error) {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    output: proc.output,
    async stop() {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts mitmdump on a free loopback port with a fresh confdir (mitmproxy makes its CA there on first
 * start). `mode` is `regular` (a CONNECT proxy, the corporate TLS inspection case) or
 * `reverse:https://127.0.0.1:PORT` (the DNS-hijack case). `upstreamCa` (a PEM file path) makes it
 * verify the real server against the test root, as a well-configured inspection box would.
 * Returns `{ port, url, caPem, output(), stop() }`.
 */
export async function startMitmdump({ mode = 'regular', upstreamCa } = {}) {
  // freePort() can race with another test taking the same port: then something else answers on it and
  // this mitmdump exits without writing its CA. Such a start is retried on another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startMitmdumpOnce({ mode, upstreamCa });
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startMitmdumpOnce({ mode, upstreamCa }) {
  const dir = await mkdtemp(join(tmpdir(), 'certpin-mitm-'));
  const port = await freePort();
  const args = [
    '--listen-host', '127.0.0.1',
    '--listen-port', String(port),
    '--set', `confdir=${dir}`,
    '--mode', mode,
    '--set', 'termlog_verbosity=warn',
    '--set', 'flow_detail=0',
    ...(upstreamCa ? ['--set', `ssl_verify_upstream_trusted_ca=${upstreamCa}`] : ['--ssl-insecure']),
  ];
  const proc = launch(MITMDUMP, args, { env: { ...process.env, HOME: dir } });
  await proc.spawned;
  let caPem;
  try {
    await waitForPort(port, { timeoutMs: 30_000, child: proc.child, output: proc.output });
    // mitmdump writes its CA before it listens: no CA file means the listener is someone else's.
    caPem = await readFile(join(dir, 'mitmproxy-ca-cert.pem'), 'utf8');
    if (proc.child.exitCode !== null) throw new Error(`mitmdump exited (${proc.child.exitCode}):\n${proc.output()}`);
  } catch (error) {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    caPem,
    output: proc.output,
    async stop() {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One tinyproxy for a whole test file, started on first use and stopped after the file: each start is
 * a process and a wait for its port, while tests only need a CONNECT proxy and its log. `logSince()`
 * of what `take()` returns reads only the lines written since that test took the proxy, so no
 * earlier test's CONNECT is counted.
 */
export function sharedTinyproxy() {
  let started;
  after(() => started?.then((proxy) => proxy.stop(), () => {}));
  return {
    async take() {
      const proxy = await (started ??= startTinyproxy());
      const start = (await proxy.log()).length;
      return { ...proxy, logSince: async () => (await proxy.log()).slice(start) };
    },
  };
}

