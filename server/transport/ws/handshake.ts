/**
 * The server side of the WebSocket opening handshake (RFC 6455 section
 * 4.2) on the HTTP server's parsed request: check it is a version-13
 * upgrade from an allowed origin, and answer with the accept key.
 *
 * @module
 */

import { type AllowedOrigins, originAllowed } from "./origins.ts";
import { webSocketAccept } from "./wire.ts";

/** The answer to an upgrade request. */
export type HandshakeAnswer =
  | { ok: true; headers: Headers }
  | { ok: false; response: Response; refusedOrigin?: string };

/** Whether a comma-separated header holds `token` (case-insensitive). */
function hasToken(value: string | null, token: string): boolean {
  return value !== null &&
    value.split(",").some((part) => part.trim().toLowerCase() === token);
}

/** A `Sec-WebSocket-Key`: the base64 of 16 bytes. */
const KEY = /^[A-Za-z0-9+/]{22}==$/;

function refuse(status: number, text: string, headers = {}): HandshakeAnswer {
  return {
    ok: false,
    response: new Response(text + "\n", {
      status,
      headers: { "content-type": "text/plain; charset=utf-8", ...headers },
    }),
  };
}

/**
 * Check an upgrade request and answer it: the 101's headers, or a refusal
 * (426 for a request that is no WebSocket upgrade or another version, 400
 * for a bad key, 403 for an origin not allowed).
 *
 * @param request The request to `/ws`.
 * @param allowed The allowed origins.
 * @returns The answer.
 */
export function answerUpgrade(
  request: Request,
  allowed: AllowedOrigins,
): HandshakeAnswer {
  const headers = request.headers;
  if (
    request.method !== "GET" ||
    !hasToken(headers.get("upgrade"), "websocket") ||
    !hasToken(headers.get("connection"), "upgrade")
  ) {
    return refuse(426, "Upgrade required: /ws is a WebSocket endpoint", {
      upgrade: "websocket",
      connection: "upgrade",
    });
  }
  if (headers.get("sec-websocket-version") !== "13") {
    return refuse(426, "WebSocket version 13 only", {
      "sec-websocket-version": "13",
    });
  }
  const key = headers.get("sec-websocket-key");
  if (key === null || !KEY.test(key)) {
    return refuse(400, "Bad Sec-WebSocket-Key");
  }
  const origin = headers.get("origin");
  if (!originAllowed(allowed, origin, headers.get("host"))) {
    return {
      ...refuse(403, "Origin not allowed") as { ok: false; response: Response },
      refusedOrigin: origin ?? "",
    };
  }
  return {
    ok: true,
    headers: new Headers({
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-accept": webSocketAccept(key),
    }),
  };
}
