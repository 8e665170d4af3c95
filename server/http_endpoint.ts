import type { Hub } from "./hub.ts";
import {
  DEFAULT_HTTP_HEADER_TIMEOUT_MS,
  DEFAULT_HTTP_MAX_CONNECTIONS,
  type HttpServerCounters,
  serveHttp,
} from "./http_server.ts";
import type { Logger } from "./logger.ts";
import { formatMetrics } from "./prometheus.ts";
import { DEFAULT_HUB_OPTIONS } from "./settings.ts";
import { collectStats, MAX_STATS_LIMIT } from "./stats.ts";
import type { TokenSet } from "./token_set.ts";
import { connectClient } from "./transport/connect_client.ts";
import {
  type AllowedOrigins,
  parseAllowedOrigins,
  type WebSocketCounters,
  WebSocketGateway,
} from "./transport/ws/mod.ts";
import { type PageFile, WebPage } from "./web_page.ts";

export { DEFAULT_HTTP_HEADER_TIMEOUT_MS, DEFAULT_HTTP_MAX_CONNECTIONS };

/** Where the HTTP endpoint listens, and who may read it. */
export interface HttpEndpointOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Where to log accept failures; its dropped-line counts go to /metrics. */
  logger?: Logger;
  /**
   * Bearer tokens required for `/metrics` and `/stats` (`/healthz` stays
   * open). Without them the listener must be on a loopback address.
   */
  tokens?: TokenSet | null;
  /** Deadline for a whole request head, in ms. Default 5 s. */
  headerTimeoutMs?: number;
  /** Most HTTP connections open at once. Default 16. */
  maxConnections?: number;
  /**
   * The chat page's files by URL path (`/` is the page), as
   * `web/transpile.ts` loads them; without them `/` is a 404.
   */
  page?: ReadonlyMap<string, PageFile> | null;
  /** Origins whose pages may open `/ws`. Default: the page's own only. */
  allowedOrigins?: AllowedOrigins;
  /**
   * Bound of a WebSocket client's outbound queue, as the chat server's
   * `--max-pending-bytes`. Default: that setting's default.
   */
  maxPendingBytes?: number;
}

/** A running HTTP endpoint. */
export interface HttpEndpoint {
  /** The bound address. */
  readonly address: Deno.NetAddr;
  /** Live counters of the HTTP listener. */
  readonly counters: Readonly<HttpServerCounters>;
  /** Live counters of its WebSocket gateway. */
  readonly webSockets: Readonly<WebSocketCounters>;
  /**
   * Stop listening and close open HTTP connections (WebSocket connections
   * are the hub's clients, closed by its shutdown).
   */
  close(): Promise<void>;
}

/** What {@linkcode handleHttpRequest} reports on and checks against. */
export interface HttpRequestContext {
  /** Tokens for `/metrics` and `/stats`; `null` or absent: open. */
  tokens?: TokenSet | null;
  /** The logger, whose line counts go to `/metrics`. */
  logger?: Logger;
  /** The HTTP listener's counters, for `/metrics`. */
  http?: Readonly<HttpServerCounters>;
  /** The WebSocket gateway's counters, for `/metrics`. */
  webSockets?: Readonly<WebSocketCounters>;
}

/**
 * Whether `host` is a loopback address (127.0.0.0/8, `::1`, their IPv4
 * mapped form, or `localhost`). Other names count as not loopback.
 *
 * @param host A hostname or literal address.
 * @returns `true` for loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (["localhost", "::1", "0:0:0:0:0:0:0:1"].includes(bare)) return true;
  return /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** A whole number written in digits only (`1e3`, `0x10`, `1.0` are not). */
function wholeNumber(text: string | null, fallback: number): number | null {
  if (text === null) return fallback;
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}

const encoder = new TextEncoder();

function authorised(request: Request, tokens: TokenSet): boolean {
  const header = request.headers.get("authorization");
  const match = header === null ? null : /^bearer +(\S+)$/i.exec(header);
  return match !== null && tokens.verify(encoder.encode(match[1]));
}

/**
 * Answer one request: `/healthz`, `/metrics` (Prometheus text) or `/stats`
 * (JSON with a per-connection list; `?offset=`, `?limit=` up to
 * {@linkcode MAX_STATS_LIMIT}, `?sort=pending`). With tokens, `/metrics`
 * and `/stats` need `Authorization: Bearer <token>` (else 401).
 *
 * @param hub The hub to report on.
 * @param request The request.
 * @param context Tokens, and the counters `/metrics` includes.
 * @returns The response.
 */
export function handleHttpRequest(
  hub: Hub,
  request: Request,
  context: HttpRequestContext = {},
): Response {
  const url = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed\n", {
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  }
  if (url.pathname === "/healthz") {
    return new Response("ok\n", { headers: { "content-type": "text/plain" } });
  }
  if (url.pathname !== "/metrics" && url.pathname !== "/stats") {
    return new Response("Not found: try /, /healthz, /metrics or /stats\n", {
      status: 404,
    });
  }
  const tokens = context.tokens ?? null;
  if (tokens !== null && !authorised(request, tokens)) {
    return new Response(
      "Unauthorized: send Authorization: Bearer <token>\n",
      { status: 401, headers: { "www-authenticate": 'Bearer realm="hubbub"' } },
    );
  }
  if (url.pathname === "/metrics") {
    return new Response(formatMetrics(hub, context), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  }
  const offset = wholeNumber(url.searchParams.get("offset"), 0);
  const limit = wholeNumber(url.searchParams.get("limit"), MAX_STATS_LIMIT);
  const sort = url.searchParams.get("sort") ?? "id";
  if (
    offset === null || limit === null || limit > MAX_STATS_LIMIT ||
    (sort !== "id" && sort !== "pending")
  ) {
    return json({
      error:
        `offset and limit must be whole numbers, limit at most ${MAX_STATS_LIMIT}; sort must be id or pending`,
    }, 400);
  }
  return json(collectStats(hub, { offset, limit, sort }));
}

/**
 * Serve the chat page (`/`), the WebSocket gateway (`/ws`: browsers join
 * the hub there as chat clients), and the hub's health, metrics and stats
 * over HTTP/1.1 (see
 * {@linkcode serveHttp}: a deadline for each request head, a bound on open
 * connections, and an accept loop that survives the open-file cap).
 *
 * @param hub The hub to report on.
 * @param options Address, tokens, limits, and the logger.
 * @returns The running endpoint.
 * @throws {RangeError} When the address is not loopback and no token is
 * given: `/stats` lists every client's address and nickname.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function startHttpEndpoint(
  hub: Hub,
  options: HttpEndpointOptions,
): HttpEndpoint {
  const tokens = options.tokens ?? null;
  if (tokens === null && !isLoopbackHost(options.hostname)) {
    throw new RangeError(
      `The HTTP listener on ${options.hostname} is not on loopback: /stats and /metrics need a token there (--http-token-file)`,
    );
  }
  const entrance = {
    inbox: hub.inbox,
    maxPendingBytes: options.maxPendingBytes ??
      DEFAULT_HUB_OPTIONS.maxPendingBytes,
    totals: hub.metrics,
    clock: hub.clock,
  };
  const gateway = new WebSocketGateway({
    allowedOrigins: options.allowedOrigins ?? parseAllowedOrigins(undefined),
    logger: options.logger,
    connect: (transport, read) => connectClient(entrance, transport, read),
  });
  const page = options.page ? new WebPage(options.page) : null;
  const context: HttpRequestContext = {
    tokens,
    logger: options.logger,
    webSockets: gateway.counters,
  };
  const server = serveHttp(
    {
      hostname: options.hostname,
      port: options.port,
      headerTimeoutMs: options.headerTimeoutMs,
      maxConnections: options.maxConnections,
      logger: options.logger,
    },
    (request, peer) => {
      const path = new URL(request.url).pathname;
      if (path === "/ws") return gateway.upgrade(request, peer);
      return page?.serve(request) ?? handleHttpRequest(hub, request, context);
    },
  );
  context.http = server.counters;
  return {
    address: server.address,
    counters: server.counters,
    webSockets: gateway.counters,
    close: () => server.close(),
  };
}
