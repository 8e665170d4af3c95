/**
 * Where a worker's module is, seen from the module that starts it. Run from
 * source or compiled (`deno compile --include` embeds the worker modules),
 * it is the `.ts` file beside the starter. A bundle of `deno task bundle` is
 * one file per program: the build puts each worker's bundled code into the
 * global {@linkcode BUNDLED_WORKERS} on the file's first lines, and the
 * worker starts from a `blob:` URL of that code.
 *
 * @module
 */

/** The global a bundle sets to its workers' code, by worker name. */
export const BUNDLED_WORKERS = "__hubbubBundledWorkers";

/** One blob URL per bundled worker, made on first use. */
const blobUrls = new Map<string, URL>();

/**
 * The URL of the worker module `name` beside the module at `base`, or of its
 * code embedded in the bundle.
 *
 * @param name The worker module's file name without `.ts`, for example
 * `_ticker_worker`.
 * @param base The starting module's `import.meta.url`.
 * @returns A `blob:` URL in a bundle, else `name.ts` beside `base`.
 */
export function workerUrl(name: string, base: string): URL {
  const bundled = (globalThis as Record<string, unknown>)[BUNDLED_WORKERS] as
    | Record<string, string>
    | undefined;
  const code = bundled?.[name];
  if (code === undefined) return new URL(`./${name}.ts`, base);
  let url = blobUrls.get(name);
  if (url === undefined) {
    const blob = new Blob([code], { type: "text/javascript" });
    url = new URL(URL.createObjectURL(blob));
    blobUrls.set(name, url);
  }
  return url;
}
