/**
 * A time limit on a promise, as an `AbortSignal.timeout` rather than a
 * hand-written race with a timer to clear: the signal's timer does not keep
 * the process alive and needs no clean-up.
 *
 * @module
 */

/**
 * `promise`'s outcome, or a rejection with `onTimeout()` once `ms` have
 * passed first.
 *
 * @param promise What to wait for.
 * @param ms The limit, in ms.
 * @param onTimeout The error to reject with when the limit passes.
 * @param discard Called with a value that arrives after the limit (to close
 * a connection nobody will use, say).
 * @returns A promise of `promise`'s value.
 */
export function withinTime<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  discard?: (late: T) => void,
): Promise<T> {
  const signal = AbortSignal.timeout(Math.max(0, ms));
  return new Promise<T>((resolve, reject) => {
    const expire = () => reject(onTimeout());
    signal.addEventListener("abort", expire, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", expire);
        if (signal.aborted) discard?.(value);
        else resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", expire);
        reject(error);
      },
    );
  });
}
