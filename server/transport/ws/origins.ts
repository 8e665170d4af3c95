/**
 * Which pages may open a WebSocket to the server (`--allowed-origins`). A
 * browser sends the `Origin` of the page that opens a WebSocket and lets
 * any page open one anywhere, so without this check another site's page
 * could connect its visitors' browsers to the chat. Programs other than
 * browsers send no `Origin` and are no such risk: they may connect.
 *
 * @module
 */

/** The allowed origins: a list, or every origin (`*`). */
export type AllowedOrigins = { any: true } | {
  any: false;
  /** Origins allowed besides the page's own, lower-cased. */
  origins: ReadonlySet<string>;
};

/**
 * Parse `--allowed-origins`: `*`, or origins separated by commas
 * (`https://chat.example,http://localhost:8080`). Without it, only the
 * page's own origin is allowed.
 *
 * @param text The flag's value, or `undefined`.
 * @returns The allowed origins.
 * @throws {RangeError} For an entry that is not an origin
 * (`scheme://host[:port]`, no path).
 */
export function parseAllowedOrigins(text: string | undefined): AllowedOrigins {
  if (text === undefined) return { any: false, origins: new Set() };
  if (text.trim() === "*") return { any: true };
  const origins = new Set<string>();
  for (const entry of text.split(",")) {
    const origin = entry.trim().toLowerCase();
    if (origin === "") continue;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new RangeError(
        `--allowed-origins: ${origin} is not an origin (scheme://host[:port])`,
      );
    }
    if (url.origin === "null" || url.origin !== origin.replace(/\/$/, "")) {
      throw new RangeError(
        `--allowed-origins: ${origin} is not an origin (scheme://host[:port], no path)`,
      );
    }
    origins.add(url.origin);
  }
  return { any: false, origins };
}

/**
 * Whether a WebSocket upgrade with this `Origin` may proceed. The page's
 * own origin (the `Host` the request came to, over http or https, as
 * behind a TLS proxy) is always allowed; no `Origin` (not a browser) too.
 *
 * @param allowed From {@linkcode parseAllowedOrigins}.
 * @param origin The request's `Origin` header, or `null`.
 * @param host The request's `Host` header, or `null`.
 * @returns `true` to accept.
 */
export function originAllowed(
  allowed: AllowedOrigins,
  origin: string | null,
  host: string | null,
): boolean {
  if (origin === null || allowed.any) return true;
  const wanted = origin.toLowerCase();
  if (host !== null) {
    const own = host.toLowerCase();
    if (wanted === `http://${own}` || wanted === `https://${own}`) return true;
  }
  return allowed.origins.has(wanted);
}
