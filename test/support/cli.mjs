// Helpers for CLI tests: run `node bin/certpin …` as a child process (asynchronously, so servers in
// the test process keep answering) or in this process through main(), and a TLS server on IPv6
// loopback, which servers.mjs does not offer.
import { spawn } from 'node:child_process';
import { createServer as createTcpServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { startTlsServer } from './servers.mjs';

export const BIN = fileURLToPath(new URL('../../bin/certpin', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs the CLI; resolves `{ code, stdout, stderr }`. `env` is added to a copy of the environment
 * without NO_COLOR/FORCE_COLOR, so output is plain unless a test asks otherwise. `uid`/`gid` run it as
 * another user (to test permission errors when the tests run as root); `bin` runs another copy of the CLI;
 * `input` is written to its standard input (otherwise it has none).
 */
export function runCli(args, { env = {}, cwd = ROOT, timeout = 30_000, uid, gid, bin = BIN, input } = {}) {
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...base } = process.env;
  return new Promise((resolve, reject) => {
    const ids = uid === undefined ? {} : { uid, gid };
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...base, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...ids });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? `killed by ${signal}` : code, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

// What the library reads from process.env rather than from the CLI's env (proxies in
// transports/tunnel.ts, NODE_EXTRA_CA_CERTS in chain/prove.ts, NODE_OPTIONS at start): only a child
// process can be given these, so runMain refuses them rather than silently ignore them.
const PROCESS_ONLY_ENV = /^(NODE_|(HTTPS?|ALL|NO)_PROXY$)/i;
let mainModule;

/**
 * Runs the CLI in this process through `main(argv, io)`, what bin/certpin calls, with stdout and
 * stderr recorded; resolves the same `{ code, stdout, stderr }` as runCli, without starting a process
 * (~0.2 s each). Use it where the process boundary is not what is tested; runCli stays for exit
 * statuses of the real binary, the bin shim, signals, another user, and variables only a process reads.
 * `env` is added to the environment as runCli adds it. `cwd` is this process's directory for the call
 * (node:test runs the tests of a file one at a time, so no other test sees it). Process warnings
 * emitted during the call are added to stderr, where a child would have printed them.
 */
export async function runMain(args, { env = {}, cwd } = {}) {
  const refused = Object.keys(env).filter((name) => PROCESS_ONLY_ENV.test(name));
  if (refused.length > 0) throw new TypeError(`runMain cannot set ${refused.join(', ')}: the library reads it from process.env; use runCli`);
  mainModule ??= await import('../../build/src/cli/main.js');
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...base } = process.env;
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (chunk) => ((stdout += chunk), true) },
    stderr: { write: (chunk) => ((stderr += chunk), true) },
    env: { ...base, ...env },
  };
  const onWarning = (warning) => (stderr += `(node:${process.pid}) ${warning.name}: ${warning.message}\n`);
  const before = process.cwd();
  process.on('warning', onWarning);
  try {
    if (cwd !== undefined) process.chdir(cwd);
    const code = await mainModule.main(args, io);
    return { code, stdout, stderr };
  } finally {
    process.off('warning', onWarning);
    process.chdir(before);
  }
}

/** Runs any program (curl, openssl); one that cannot be started fails the test. */
export function runProgram(command, args, { input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) => reject(new Error(`cannot run ${command}: ${error.message}; it must be installed for this test`)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

/**
 * Asserts the CLI failed the way every input or connection error must: exit `code`, nothing on stdout
 * (unless allowed), exactly one `certpin: …` line on stderr, and no stack trace. Returns that line.
 */
export function assertOneLineError(result, { code = 2, pattern, stdoutAllowed = false } = {}) {
  const context = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  assert.equal(result.code, code, context);
  if (!stdoutAllowed) assert.equal(result.stdout, '', context);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `expected one line on stderr\n${context}`);
  assert.match(lines[0], /^certpin: \S/, context);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace\n${context}`);
  if (pattern) assert.match(lines[0], pattern, context);
  return lines[0];
}

/**
 * A TLS server on [::1] serving `chain` (PKI entries, leaf first, the leaf's key used), on `port` (0:
 * any free one; a given port lets it share a port number with a server on 127.0.0.1).
 * `connections()` counts the TCP connections it accepted.
 */
export function startIpv6TlsServer(chain, { port = 0 } = {}) {
  return startTlsServer({ cert: chain, host: '::1', port });
}

/**
 * Makes sure nothing listens on [::1]:`port` (it listens there, then closes), so that address is
 * refused: a first `--resolve` address that fails before any server is reached.
 */
export async function refusedIpv6Port(port) {
  const server = createTcpServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '::1', resolve);
  });
  await new Promise((resolve) => server.close(resolve));
  return port;
}
