// The bounded map behind every multi-target command: at most `limit` calls in flight, results in
// input order, counted with calls that finish only when the test releases them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapConcurrent } from '../../build/src/lib/concurrency.js';

/** Calls that stay in flight until released, counting how many run at once. */
function heldCalls() {
  const pending = [];
  let running = 0;
  let peak = 0;
  const fn = (item) => new Promise((resolve) => {
    running++;
    peak = Math.max(peak, running);
    pending.push(() => { running--; resolve(item * 10); });
  });
  return { fn, pending, peak: () => peak, running: () => running };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

for (const limit of [1, 2, 4]) {
  test(`limit ${limit}: never more than ${limit} calls in flight, results in input order`, async () => {
    const calls = heldCalls();
    const done = mapConcurrent([1, 2, 3, 4, 5, 6], limit, calls.fn);
    let released = 0;
    while (released < 6) {
      await turn();
      // Every free slot is taken before anything finishes: exactly `limit` calls wait (fewer at the end).
      assert.equal(calls.running(), Math.min(limit, 6 - released));
      // Finish the most recent call first, so that order of completion differs from input order.
      calls.pending.pop()();
      released++;
    }
    assert.deepEqual(await done, [10, 20, 30, 40, 50, 60]);
    assert.equal(calls.peak(), limit);
  });
}

test('a rejection rejects the map once the calls in flight settled', async () => {
  let settled = 0;
  const fn = async (item) => {
    await turn();
    settled++;
    if (item === 2) throw new Error('item 2');
    return item;
  };
  await assert.rejects(mapConcurrent([1, 2, 3], 3, fn), /item 2/);
  assert.equal(settled, 3);
});
