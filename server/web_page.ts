/**
 * The chat page on the HTTP endpoint: `GET /` and the files under the
 * page's prefix, from the table the page declares (`web/files.ts`), read
 * and transpiled once at start (`web/transpile.ts`). A request is looked up
 * by its exact path in that table, so no path reaches any other file.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** One file ready to serve (as `web/transpile.ts` prepares it). */
export interface PageFile {
  /** The `Content-Type` to send. */
  contentType: string;
  /** The bytes to send. */
  body: Uint8Array;
}

/** The page's files by URL path, with their validators. */
export class WebPage {
  #files = new Map<string, PageFile & { etag: string }>();

  /** @param files The files by URL path (`/` is the page). */
  constructor(files: ReadonlyMap<string, PageFile>) {
    for (const [path, file] of files) {
      const digest = createHash("sha1").update(file.body).digest("base64url");
      this.#files.set(path, { ...file, etag: `"${digest}"` });
    }
  }

  /**
   * Answer a request for one of the page's files: 200 with the file, or
   * 304 when the browser's copy is current (`If-None-Match`). Browsers
   * revalidate on every load (`Cache-Control: no-cache`), so a new server
   * version's page is never mixed with an old module.
   *
   * @param request A GET or HEAD request.
   * @returns The response, or `null` when the path is none of the page's.
   */
  serve(request: Request): Response | null {
    const url = new URL(request.url);
    const file = this.#files.get(url.pathname);
    if (file === undefined) return null;
    const headers = new Headers({
      "content-type": file.contentType,
      "cache-control": "no-cache",
      etag: file.etag,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    });
    if (file.contentType.startsWith("text/html")) {
      headers.set(
        "content-security-policy",
        contentSecurityPolicy(request.headers.get("host")),
      );
    }
    if (request.headers.get("if-none-match") === file.etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(file.body as Uint8Array<ArrayBuffer>, { headers });
  }
}

/** A Host header fit to name in a header of our own. */
const HOST = /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The page's policy: its own scripts, styles and WebSocket only (no inline
 * script, no eval), no plugins, no `<base>`, no form posts, no framing by
 * other sites: should text ever reach the page as markup, no script runs.
 */
function contentSecurityPolicy(host: string | null): string {
  const sockets = host !== null && HOST.test(host)
    ? ` ws://${host} wss://${host}`
    : "";
  return `default-src 'self'; connect-src 'self'${sockets}; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}
