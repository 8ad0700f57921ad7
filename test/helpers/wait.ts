// Waiting on a condition instead of a fixed sleep: a test goes on as soon as what it waits for is
// true, however loaded the machine, and fails naming what never happened.

/** Resolves once `predicate` holds, polling every 10 ms; rejects naming `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = "a condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Resolves once `counter()` has grown by at least `by` from its value now. */
export async function waitForGrowth(counter: () => number, by: number, timeoutMs = 5000, what = "a counter"): Promise<void> {
  const from = counter();
  await waitFor(() => counter() - from >= by, timeoutMs, `${what} to grow by ${by} (from ${from})`);
}

/** waitFor for a condition that must be fetched (an HTTP endpoint of a server in another process). */
export async function waitForAsync(predicate: () => Promise<boolean>, timeoutMs = 5000, what = "a condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}
