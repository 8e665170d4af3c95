/**
 * The files the chat page is made of, as the HTTP server serves them: the
 * page itself at `/`, and under {@linkcode PAGE_PREFIX} its stylesheet and
 * every module it imports. The served tree mirrors the repository
 * (`/app/protocol/frame.ts` is `protocol/frame.ts`, transpiled to
 * JavaScript), so the modules' relative imports resolve in the browser as
 * they do in Deno and the page reuses `protocol/` without a second copy of
 * the wire format. Modules keep their `.ts` names; the content type, not
 * the name, tells the browser they are JavaScript.
 *
 * `tests/web_files_test.ts` checks that this list holds exactly the modules
 * `web/app.ts` reaches through its imports.
 *
 * @module
 */

/** Where the page's stylesheet and modules are served. */
export const PAGE_PREFIX = "/app/";

/** One served file. */
export interface WebFile {
  /** The URL path it is served at. */
  url: string;
  /** Its path in the repository, relative to the repository's root. */
  source: string;
  /** The `Content-Type` it is served with. */
  contentType: string;
  /** Whether it is TypeScript, served as its JavaScript transpilation. */
  transpile: boolean;
}

const HTML = "text/html; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const JAVASCRIPT = "text/javascript; charset=utf-8";

/** The page's modules, repository paths; `web/app.ts` is the entry point. */
export const PAGE_MODULES: readonly string[] = [
  "web/app.ts",
  "web/_dom.ts",
  "web/chat_state.ts",
  "web/frame_socket.ts",
  "web/page_view.ts",
  "protocol/constants.ts",
  "protocol/errors.ts",
  "protocol/frame.ts",
  "protocol/frame_reader.ts",
  "protocol/header.ts",
  "protocol/messages.ts",
  "protocol/history.ts",
  "client/history_tracker.ts",
  "client/reconnect_backoff.ts",
  "client/terminal_text.ts",
];

/** Every file of the page, with its URL and content type. */
export const WEB_FILES: readonly WebFile[] = [
  { url: "/", source: "web/index.html", contentType: HTML, transpile: false },
  {
    url: `${PAGE_PREFIX}web/style.css`,
    source: "web/style.css",
    contentType: CSS,
    transpile: false,
  },
  ...PAGE_MODULES.map((source) => ({
    url: `${PAGE_PREFIX}${source}`,
    source,
    contentType: JAVASCRIPT,
    transpile: true,
  })),
];
