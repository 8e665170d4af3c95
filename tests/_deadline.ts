/**
 * Reject with a clear message if `promise` does not settle within `ms`.
 * The time limit is an `AbortSignal.timeout`, whose timer Deno's test
 * sanitizers do not count, so nothing is left to clear.
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  what = "operation",
): Promise<T> {
  const signal = AbortSignal.timeout(Math.max(0, ms));
  return new Promise<T>((resolve, reject) => {
    const onTimeout = () =>
      reject(new Error(`Timed out after ${ms} ms waiting for ${what}`));
    signal.addEventListener("abort", onTimeout, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onTimeout)
    );
  });
}
