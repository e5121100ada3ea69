// The CLI's one output formatter: colours only on a terminal and never with NO_COLOR, the progress bar
// only on a terminal's stderr, tables aligned whatever the colours, and runTargets, which commands
// use for many targets. Streams are recorded, with isTTY set as a terminal would set it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOutput, runTargets } from '../../build/src/cli/output.js';

function stream(isTTY) {
  const chunks = [];
  return { isTTY, columns: 80, chunks, write: (chunk) => chunks.push(chunk), text: () => chunks.join('') };
}

const ESC = '\u001b[';

test('colours on a terminal, not on a pipe, never with NO_COLOR (unless it is empty)', () => {
  const cases = [
    [true, {}, true],
    [false, {}, false],
    [true, { NO_COLOR: '1' }, false],
    [true, { NO_COLOR: '' }, true],
    [true, { TERM: 'dumb' }, false],
  ];
  for (const [isTTY, env, expected] of cases) {
    const stdout = stream(isTTY);
    const out = createOutput({ stdout, stderr: stream(isTTY), env });
    out.line(out.style.red('bad'));
    assert.equal(out.color, expected, JSON.stringify({ isTTY, env }));
    assert.equal(stdout.text().includes(ESC), expected, JSON.stringify({ isTTY, env }));
  }
});

test('tables align columns by visible width, colour codes excluded', () => {
  const out = createOutput({ stdout: stream(true), stderr: stream(true), env: {} });
  const lines = out.table([[out.style.bold('leaf'), 'a'], ['intermediate', 'b']], { indent: '  ' });
  const plain = lines.map((line) => line.split(ESC).map((part, i) => (i === 0 ? part : part.replace(/^\d+m/, ''))).join(''));
  assert.deepEqual(plain, ['  leaf          a', '  intermediate  b']);
});

test('json prints exactly one parseable document', () => {
  const stdout = stream(false);
  createOutput({ stdout, stderr: stream(false), env: {} }).json({ results: [{ a: 1 }] });
  assert.deepEqual(JSON.parse(stdout.text()), { results: [{ a: 1 }] });
});

test('the progress bar writes to a terminal stderr only, and clears itself', () => {
  const ttyErr = stream(true);
  const bar = createOutput({ stdout: stream(false), stderr: ttyErr, env: {} }).progress(3, 'pins');
  bar.tick('a');
  bar.tick('b');
  bar.done();
  assert.match(ttyErr.text(), /pins \[#+\.*\] 2\/3 b/);
  assert.ok(ttyErr.chunks.at(-1).endsWith(`${ESC}2K`), 'the last write clears the line');

  const pipeErr = stream(false);
  const silent = createOutput({ stdout: stream(false), stderr: pipeErr, env: {} }).progress(3, 'pins');
  silent.tick('a');
  silent.done();
  assert.equal(pipeErr.text(), '');
});

/** A promise the test settles by hand. */
function gate() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

test('runTargets prints each result once it and every earlier one are done, in command-line order', async () => {
  const stdout = stream(false);
  const out = createOutput({ stdout, stderr: stream(false), env: {} });
  const gates = new Map(['a', 'b', 'c'].map((target) => [target, gate()]));
  const done = runTargets(out, 'pins', ['a', 'b', 'c'], 3, async (target) => {
    await gates.get(target).promise;
    return target.toUpperCase();
  }, (result) => out.line(result));
  // Everything here settles through promise reactions only: one turn of the event loop runs them all.
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  gates.get('c').resolve();
  await settle();
  assert.equal(stdout.text(), '', 'c is done, but a and b, before it, are not');
  gates.get('a').resolve();
  await settle();
  assert.equal(stdout.text(), 'A\n', 'a is printed as soon as it is done');
  gates.get('b').resolve();
  assert.deepEqual(await done, ['A', 'B', 'C']);
  assert.equal(stdout.text(), 'A\nB\nC\n');
});

test('results streamed to stdout under a progress bar: the bar steps aside and comes back (one terminal)', () => {
  let screen = '';
  const tty = () => ({ isTTY: true, columns: 80, write(chunk) { screen += chunk; return true; } });
  const out = createOutput({ stdout: tty(), stderr: tty(), env: { NO_COLOR: '1' } });
  const bar = out.progress(3, 'pins');
  bar.tick('a');
  screen = '';
  out.line('result a');
  // cleared, the line, then the bar again with its count
  assert.ok(screen.startsWith(`\r${ESC}2Kresult a\n\r${ESC}2Kpins [`), JSON.stringify(screen));
  assert.match(screen, /\] 1\/3 a$/);
  bar.done();
  screen = '';
  out.line('after');
  assert.equal(screen, 'after\n', 'no bar once done');
});

test('inOrder emits results in input order as soon as all earlier ones are done', async () => {
  const { inOrder } = await import('../../build/src/cli/output.js');
  const emitted = [];
  const push = inOrder((value, index) => emitted.push([index, value]));
  push(1, 'b');
  assert.deepEqual(emitted, []);
  push(0, 'a');
  assert.deepEqual(emitted, [[0, 'a'], [1, 'b']]);
  push(3, 'd');
  push(2, 'c');
  assert.deepEqual(emitted.map(([i]) => i), [0, 1, 2, 3]);
});
