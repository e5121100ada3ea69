// Waiting on an event a test cannot subscribe to (a line a child printed, a counter a server keeps):
// the condition is checked every few milliseconds and the wait fails, naming what it waited for, after
// a deadline. Never a sleep that proves something did not happen: it waits for something that does.

/** Resolves once `predicate()` holds, checking every 5 ms; rejects naming `what` after `ms`. */
export async function until(predicate, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
