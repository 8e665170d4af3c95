/**
 * Where a worker's module is, seen from the module that starts it: beside
 * it, under its own name, with the starting module's extension. Run from
 * source, `worker` next to `client/loadtest/run.ts` is `worker.ts`; in a
 * bundle (`deno task bundle`) every module of a program is inlined into one
 * `.js` file, so `import.meta.url` is that file's, and each worker is bundled
 * beside it as `worker.js`.
 *
 * @module
 */

const EXTENSION = /\.[cm]?[jt]sx?$/;

/**
 * The URL of the worker module `name` beside the module at `base`.
 *
 * @param name The worker module's file name without its extension, for
 * example `_ticker_worker`.
 * @param base The starting module's `import.meta.url`.
 * @returns `name` beside `base`, with `base`'s extension (`.ts` if none).
 */
export function workerUrl(name: string, base: string): URL {
  const extension = EXTENSION.exec(new URL(base).pathname)?.[0] ?? ".ts";
  return new URL(`./${name}${extension}`, base);
}
