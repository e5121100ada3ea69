// Results stream (issue 16 item 5, docs/performance.md): each result is printed as soon as it and every one
// before it are done, in input order. Proved by the order of events, not by timing: the second
// target is a server that holds the connection until the test has read the first result on stdout.
// Concurrency is proved the same way: connections held until N of them are open at once. Streaming
// runs the binary (what reaches a pipe is the point); concurrency runs in this process through main().
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { BIN, runMain } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-streaming-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const rootFile = join(dir, 'root.pem');
writeFileSync(rootFile, pki.root.pem);
const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
after(() => server.close());

/**
 * A TCP gate on 127.0.0.1:0 in front of the TLS server: each connection is held, unforwarded, until
 * released. `open()` is how many are open now, `heldAtArrival` how many earlier ones were still held
 * when each arrived, `closedByClient` counts connections the client gave up on while held.
 */
async function startGate() {
  const held = [];
  const sockets = new Set();
  const gate = { open: () => sockets.size, closedByClient: 0, heldAtArrival: [], arrivals: [] };
  const tcp = createServer((client) => {
    sockets.add(client);
    // How many earlier connections were still held (not yet released) when this one arrived.
    gate.heldAtArrival.push(held.filter((e) => !e.released).length);
    client.on('error', () => {});
    client.pause();
    const entry = { client, released: false };
    client.on('close', () => {
      sockets.delete(client);
      if (!entry.released) gate.closedByClient++;
    });
    held.push(entry);
    for (const resolve of gate.arrivals.splice(0)) resolve();
  });
  await new Promise((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const forward = (entry) => {
    entry.released = true;
    const upstream = connect(server.port, '127.0.0.1');
    upstream.on('error', () => {});
    upstream.on('connect', () => {
      entry.client.pipe(upstream).pipe(entry.client);
      entry.client.resume();
    });
    entry.client.on('close', () => upstream.destroy());
  };
  return Object.assign(gate, {
    port: tcp.address().port,
    /** Resolves once `count` connections have arrived in all. */
    async arrived(count) {
      while (held.length < count) await new Promise((resolve) => gate.arrivals.push(resolve));
    },
    releaseAll: () => held.filter((e) => !e.released).forEach(forward),
    close: () => new Promise((resolve) => {
      tcp.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  });
}

/** Runs the CLI and calls `onLine(line, stdoutSoFar)` for each stdout line as it arrives. */
function runStreaming(args, onLine) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk;
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      onLine(line, stdout);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

for (const command of ['pins', 'verify', 'expiry']) {
  describe(`certpin ${command} streams its results`, () => {
    test('the first result is on stdout while the second target is still held; all in input order', async (t) => {
      const slow = await startGate();
      t.after(() => slow.close());
      const fast = `127.0.0.1:${server.port}`;
      const targets = [fast, `127.0.0.1:${slow.port}`, fast];
      const extra = command === 'verify' ? ['--pin', pki.intermediate.pin] : [];
      let seenFirst;
      const result = await runStreaming([command, ...targets, ...extra, '--ca', rootFile, '--timeout', '60000', '--concurrency', '3'], (line, soFar) => {
        if (seenFirst !== undefined || line.trim() === '') return;
        // The event that proves streaming: a result is out while the slow target is still held
        // (not given up on by the client), and the third target, done already, waits its turn.
        seenFirst = { line, heldOpen: slow.open(), closedByClient: slow.closedByClient, soFar };
        slow.releaseAll();
      });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(seenFirst, 'a first line was printed');
      assert.equal(seenFirst.heldOpen, 1, 'the slow connection was still held when the first result appeared');
      assert.equal(seenFirst.closedByClient, 0);
      assert.ok(seenFirst.line.includes(fast), seenFirst.line);
      assert.ok(!seenFirst.soFar.includes(`127.0.0.1:${slow.port}`), 'nothing of the slow target yet');
      // input order, whatever the completion order
      const results = result.stdout.split('\n').filter((l) => !l.startsWith('CERTPIN EXPIRY')).join('\n');
      const order = [...results.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])).filter((p, i, all) => i === 0 || p !== all[i - 1]);
      assert.deepEqual(order, [server.port, slow.port, server.port]);
    });
  });
}

describe('concurrency, by events', () => {
  test('--concurrency 4 has four connections open at once; --concurrency 1 never more than one', async (t) => {
    const gates = await Promise.all([1, 2, 3, 4].map(() => startGate()));
    t.after(() => Promise.all(gates.map((g) => g.close())));
    const targets = gates.map((g) => `127.0.0.1:${g.port}`);
    const parallel = runMain(['pins', '--json', ...targets, '--ca', rootFile, '--concurrency', '4', '--timeout', '60000']);
    // All four arrive before any is released: only possible if they are in flight together.
    await Promise.all(gates.map((g) => g.arrived(1)));
    for (const g of gates) g.releaseAll();
    const done = await parallel;
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(JSON.parse(done.stdout).results.map((r) => r.target), targets);

    const serialGate = await startGate();
    t.after(() => serialGate.close());
    const serialTargets = [1, 2, 3].map(() => `127.0.0.1:${serialGate.port}`);
    const serial = runMain(['pins', '--json', ...serialTargets, '--ca', rootFile, '--concurrency', '1', '--timeout', '60000']);
    for (let n = 1; n <= 3; n++) {
      await serialGate.arrived(n);
      serialGate.releaseAll();
    }
    assert.equal((await serial).code, 0);
    // Each connection came only after the one before had been let through: never two in flight.
    assert.deepEqual(serialGate.heldAtArrival, [0, 0, 0]);
  });
});
