/**
 * Prepare the chat page's files for serving: read each file of
 * {@linkcode WEB_FILES} once, at server start, and turn each TypeScript
 * module into JavaScript by stripping its types (Sucrase, pure JavaScript,
 * no native binary), so the browser runs the same `protocol/` code as the
 * server with no build step.
 *
 * @module
 */

import { transform } from "sucrase";
import { WEB_FILES, type WebFile } from "./files.ts";

/** A file ready to serve. */
export interface ServedFile {
  /** The `Content-Type` to send. */
  contentType: string;
  /** The bytes to send. */
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Strip the types from one TypeScript module, keeping its ES module syntax
 * and its import specifiers as they are (the served tree mirrors the
 * repository, so relative `.ts` imports resolve). Imports used only as
 * types are removed.
 *
 * @param source The module's TypeScript source.
 * @param fileName Its path, for error messages.
 * @returns The JavaScript.
 * @throws {SyntaxError} When the source does not parse.
 *
 * @example Usage
 * ```ts
 * import { transpileModule } from "./transpile.ts";
 * console.log(transpileModule("export const n: number = 1;", "n.ts").trim());
 * // export const n = 1;
 * ```
 */
export function transpileModule(source: string, fileName: string): string {
  return transform(source, {
    transforms: ["typescript"],
    filePath: fileName,
    disableESTransforms: true,
  }).code;
}

/**
 * Read and prepare every file of the page.
 *
 * @param root The repository's root directory (default: the one holding
 * this module's folder).
 * @param files The files to serve (default {@linkcode WEB_FILES}).
 * @returns The files by URL path (`/` is the page).
 * @throws {Deno.errors.NotFound} When a file is missing.
 */
export async function loadWebFiles(
  root: URL = new URL("../", import.meta.url),
  files: readonly WebFile[] = WEB_FILES,
): Promise<Map<string, ServedFile>> {
  const served = new Map<string, ServedFile>();
  for (const file of files) {
    const bytes = await Deno.readFile(new URL(file.source, root));
    const body = file.transpile
      ? encoder.encode(transpileModule(decoder.decode(bytes), file.source))
      : bytes;
    served.set(file.url, { contentType: file.contentType, body });
  }
  return served;
}
