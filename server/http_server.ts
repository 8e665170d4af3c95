/**
 * A small HTTP/1.1 server over `Deno.listen` for the metrics endpoint, with
 * the limits `Deno.serve` does not offer: a deadline for the request head,
 * a deadline for writing the response, a bound on connections open at once,
 * and an accept loop that outlives running out of descriptors.
 *
 * One request per connection (`Connection: close`), GET-style requests only
 * (a body is never read). That is all a scraper or a person with curl needs.
 *
 * @module
 */

import { setTimeout as delay } from "node:timers/promises";
import {
  AcceptErrorKind,
  classifyAcceptError,
} from "./transport/tcp/accept_loop.ts";
import { headEnd, parseRequestHead } from "./_http_request_head.ts";
import type { Logger } from "./logger.ts";

/** Default deadline for a complete request head, in ms. */
export const DEFAULT_HTTP_HEADER_TIMEOUT_MS = 5000;
/** Default bound on HTTP connections open at once. */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 16;
/** Largest request head accepted, in bytes; larger gets 431. */
export const MAX_REQUEST_HEAD_BYTES = 8192;
/** Default deadline for writing a response, in ms. */
export const DEFAULT_HTTP_RESPONSE_TIMEOUT_MS = 10_000;
/** Longest wait for the peer to close after the response, in ms. */
const LINGER_MS = 1000;
/** First and longest pause after a failed accept, in ms. */
const FIRST_BACKOFF_MS = 10;
const MAX_BACKOFF_MS = 1000;

/**
 * A handler's answer that takes the connection over (a WebSocket upgrade):
 * the server writes `101 Switching Protocols` with these headers, then the
 * connection leaves it, and no longer counts against its bound or its
 * deadlines.
 */
export interface HttpUpgrade {
  /** Headers of the 101 response. */
  readonly headers: Headers;
  /**
   * Called once the 101 has been written.
   *
   * @param conn The connection, now the taker's to close.
   * @param early Bytes the peer sent after its request head.
   */
  takeOver(conn: Deno.Conn, early: Uint8Array): void;
}

/**
 * Answers one request, or takes its connection over; `peer` is the
 * client's address, for logs.
 */
export type HttpHandler = (
  request: Request,
  peer: Deno.NetAddr,
) => Response | HttpUpgrade | Promise<Response | HttpUpgrade>;

/** Options of {@linkcode serveHttp}. */
export interface HttpServerOptions {
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** A connection that has not sent a whole request head by then is closed (ms). */
  headerTimeoutMs?: number;
  /** Most connections open at once; more wait in the kernel's backlog. */
  maxConnections?: number;
  /** A response not written by then (the peer does not read) is cut off (ms). */
  responseTimeoutMs?: number;
  /** Where accept failures are logged. */
  logger?: Logger;
}

/** Counters of an {@linkcode HttpServer}. */
export interface HttpServerCounters {
  /** Connections open now. */
  connections: number;
  /** Requests answered (with any status). */
  requests: number;
  /** Connections closed because their request head was late. */
  headerTimeouts: number;
}

/** A running {@linkcode serveHttp} server. */
export interface HttpServer {
  /** The bound address. */
  readonly address: Deno.NetAddr;
  /** Live counters. */
  readonly counters: Readonly<HttpServerCounters>;
  /** Stop accepting, close every connection, and wait for it all to end. */
  close(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};

const encoder = new TextEncoder();

function plain(status: number, text: string): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/** The response as bytes: status line, headers, `Connection: close`, body. */
async function serialise(
  response: Response,
  head: boolean,
): Promise<Uint8Array> {
  const body = new Uint8Array(await response.arrayBuffer());
  let text = `HTTP/1.1 ${response.status} ${
    STATUS_TEXT[response.status] ?? "Unknown"
  }\r\n`;
  for (const [name, value] of response.headers) {
    if (name !== "content-length" && name !== "connection") {
      text += `${name}: ${value}\r\n`;
    }
  }
  text += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  const start = encoder.encode(text);
  if (head) return start;
  const out = new Uint8Array(start.length + body.length);
  out.set(start);
  out.set(body, start.length);
  return out;
}

/** The head of a `101 Switching Protocols` response. */
function switchingProtocols(headers: Headers): Uint8Array {
  let text = "HTTP/1.1 101 Switching Protocols\r\n";
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  return encoder.encode(text + "\r\n");
}

/**
 * Serve HTTP/1.1 on `hostname:port` with `handler`.
 *
 * Each connection must send its request head within `headerTimeoutMs`
 * (default 5 s), else it gets 408 and is closed; the response must be
 * written within `responseTimeoutMs` (default 10 s). A handler may take a
 * connection over instead ({@linkcode HttpUpgrade}: a WebSocket), which
 * then leaves the server's bound and deadlines. At most
 * `maxConnections` (default 16) are open at once: the rest wait in the
 * kernel's backlog, holding no descriptor of the process. An accept that fails for lack of descriptors or memory is
 * retried with a pause (10 ms up to 1 s), one that concerns only the
 * waiting connection at once; the listener never stops by itself.
 *
 * @param options Address and limits.
 * @param handler Answers each request; a throw becomes a 500.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function serveHttp(
  options: HttpServerOptions,
  handler: HttpHandler,
): HttpServer {
  const headerTimeoutMs = options.headerTimeoutMs ??
    DEFAULT_HTTP_HEADER_TIMEOUT_MS;
  const maxConnections = options.maxConnections ??
    DEFAULT_HTTP_MAX_CONNECTIONS;
  const responseTimeoutMs = options.responseTimeoutMs ??
    DEFAULT_HTTP_RESPONSE_TIMEOUT_MS;
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
    transport: "tcp",
  });
  const counters: HttpServerCounters = {
    connections: 0,
    requests: 0,
    headerTimeouts: 0,
  };
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const stopped = new AbortController();
  let slotFreed: (() => void) | null = null;

  const serveConnection = async (conn: Deno.Conn): Promise<void> => {
    // Closing the connection is how both deadlines end a pending read or write.
    let timedOut = false;
    let takenOver = false;
    let timer = setTimeout(() => {
      timedOut = true;
      counters.headerTimeouts++;
      // A short notice, then close; a peer that does not read loses nothing.
      conn.write(
        encoder.encode(
          "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
      ).catch(() => {}).finally(() => closeQuietly(conn));
    }, headerTimeoutMs);
    try {
      const buffer = new Uint8Array(MAX_REQUEST_HEAD_BYTES);
      let filled = 0;
      let end = -1;
      while (end < 0) {
        if (filled === buffer.length) {
          clearTimeout(timer);
          timer = setTimeout(() => closeQuietly(conn), responseTimeoutMs);
          await respond(conn, plain(431, "Request head too large\n"), false);
          return;
        }
        const count = await conn.read(buffer.subarray(filled));
        if (count === null || timedOut) return;
        const before = filled;
        filled += count;
        end = headEnd(buffer.subarray(0, filled), before);
      }
      clearTimeout(timer);
      timer = setTimeout(() => closeQuietly(conn), responseTimeoutMs);
      const head = parseRequestHead(buffer.subarray(0, end));
      let response: Response | HttpUpgrade;
      if (head === null) {
        response = plain(400, "Bad request\n");
      } else if (head.method !== "GET" && head.method !== "HEAD") {
        response = new Response("Method not allowed\n", {
          status: 405,
          headers: { allow: "GET, HEAD" },
        });
      } else {
        try {
          response = await handler(
            new Request(new URL(head.target, "http://localhost"), {
              method: head.method,
              headers: head.headers,
            }),
            conn.remoteAddr as Deno.NetAddr,
          );
        } catch {
          response = plain(500, "Internal server error\n");
        }
      }
      counters.requests++;
      if (response instanceof Response) {
        await respond(conn, response, head?.method === "HEAD");
      } else {
        await writeAll(conn, switchingProtocols(response.headers));
        if (timedOut || stopped.signal.aborted) return;
        clearTimeout(timer);
        takenOver = true;
        response.takeOver(conn, buffer.slice(end, filled));
      }
    } catch {
      // The peer went away or a deadline closed the connection.
    } finally {
      clearTimeout(timer);
      if (!takenOver) closeQuietly(conn);
    }
  };

  const respond = async (
    conn: Deno.Conn,
    response: Response,
    head: boolean,
  ): Promise<void> => {
    await writeAll(conn, await serialise(response, head));
    // Half-close and let the peer close first, so unread bytes it sent
    // (a body, a pipelined request) do not turn into a reset that could
    // destroy the response before it is read.
    await conn.closeWrite();
    const sink = new Uint8Array(4096);
    let drained = 0;
    const linger = setTimeout(() => closeQuietly(conn), LINGER_MS);
    try {
      for (;;) {
        const count = await conn.read(sink);
        if (count === null) break;
        drained += count;
        if (drained > 64 * 1024) break;
      }
    } finally {
      clearTimeout(linger);
    }
  };

  const acceptLoop = async (): Promise<void> => {
    let backoff = 0;
    let failing = false;
    while (!stopped.signal.aborted) {
      if (open.size >= maxConnections) {
        await new Promise<void>((resolve) => slotFreed = resolve);
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (
          stopped.signal.aborted || error instanceof Deno.errors.BadResource
        ) {
          return;
        }
        const kind = classifyAcceptError(error);
        if (kind === AcceptErrorKind.PeerGone) continue;
        if (!failing) {
          failing = true;
          options.logger?.warn("HTTP accept failed; backing off", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
        backoff = Math.min(
          backoff === 0 ? FIRST_BACKOFF_MS : backoff * 2,
          MAX_BACKOFF_MS,
        );
        try {
          await delay(backoff, undefined, { signal: stopped.signal });
        } catch {
          return;
        }
        continue;
      }
      if (failing) {
        failing = false;
        options.logger?.warn("HTTP accepting again");
      }
      backoff = 0;
      open.add(conn);
      counters.connections = open.size;
      const task = serveConnection(conn).finally(() => {
        open.delete(conn);
        counters.connections = open.size;
        tasks.delete(task);
        const wake = slotFreed;
        slotFreed = null;
        wake?.();
      });
      tasks.add(task);
    }
  };
  const running = acceptLoop();

  return {
    address: listener.addr as Deno.NetAddr,
    counters,
    async close() {
      stopped.abort();
      closeQuietly(listener);
      const wake = slotFreed;
      slotFreed = null;
      wake?.();
      for (const conn of open) closeQuietly(conn);
      await running;
      await Promise.all(tasks);
    },
  };
}

function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}
