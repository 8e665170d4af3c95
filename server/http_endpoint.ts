import { setTimeout as delay } from "node:timers/promises";
import type { Hub } from "./hub.ts";
import type { Logger } from "./logger.ts";
import { formatMetrics } from "./prometheus.ts";
import { collectStats } from "./stats.ts";

/** Where the HTTP endpoint listens. */
export interface HttpEndpointOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Where to log restarts of the listener. */
  logger?: Logger;
}

/** A running HTTP endpoint. */
export interface HttpEndpoint {
  /** The bound address. */
  readonly address: Deno.NetAddr;
  /** Stop listening and close open HTTP connections. */
  close(): Promise<void>;
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function nonNegativeInteger(
  text: string | null,
  fallback: number,
): number | null {
  if (text === null) return fallback;
  const value = Number(text);
  return Number.isInteger(value) && value >= 0 ? value : null;
}

/**
 * Answer one request: `/healthz`, `/metrics` (Prometheus text) or `/stats`
 * (JSON with a per-connection list; `?offset=`, `?limit=`, `?sort=pending`).
 *
 * @param hub The hub to report on.
 * @param request The request.
 * @returns The response.
 */
export function handleHttpRequest(
  hub: Hub,
  request: Request,
  logger?: Logger,
): Response {
  const url = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed\n", {
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  }
  switch (url.pathname) {
    case "/healthz":
      return new Response("ok\n", {
        headers: { "content-type": "text/plain" },
      });
    case "/metrics":
      return new Response(formatMetrics(hub, logger), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    case "/stats": {
      const offset = nonNegativeInteger(url.searchParams.get("offset"), 0);
      const limit = nonNegativeInteger(url.searchParams.get("limit"), 1024);
      const sort = url.searchParams.get("sort") ?? "id";
      if (
        offset === null || limit === null ||
        (sort !== "id" && sort !== "pending")
      ) {
        return json({
          error:
            "offset and limit must be whole numbers; sort must be id or pending",
        }, 400);
      }
      return json(collectStats(hub, { offset, limit, sort }));
    }
    default:
      return new Response("Not found: try /healthz, /metrics or /stats\n", {
        status: 404,
      });
  }
}

/** Longest pause before the HTTP listener is started again, in ms. */
const MAX_RESTART_BACKOFF_MS = 1000;

/**
 * Serve the hub's health, metrics and stats over HTTP (`Deno.serve`).
 *
 * `Deno.serve` stops for good when its accept fails (for example when the
 * process is out of file descriptors). The endpoint then logs a warning and
 * starts listening again on the same port, backing off from 10 ms to 1 s,
 * so a scrape at the descriptor cap never takes the chat server down.
 *
 * @param hub The hub to report on.
 * @param options Address to listen on, and where to log restarts.
 * @returns The running endpoint.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function startHttpEndpoint(
  hub: Hub,
  options: HttpEndpointOptions,
): HttpEndpoint {
  const handler = (request: Request) =>
    handleHttpRequest(hub, request, options.logger);
  const listen = (port: number) =>
    Deno.serve(
      { hostname: options.hostname, port, onListen: () => {} },
      handler,
    );
  let server = listen(options.port);
  const address = server.addr as Deno.NetAddr;
  let closing = false;
  const stopped = new AbortController();
  const running = (async () => {
    let backoff = 0;
    for (;;) {
      try {
        await server.finished;
        return;
      } catch (error) {
        if (closing) return;
        options.logger?.warn("HTTP listener failed; starting it again", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      for (;;) {
        backoff = Math.min(
          backoff === 0 ? 10 : backoff * 2,
          MAX_RESTART_BACKOFF_MS,
        );
        try {
          await delay(backoff, undefined, { signal: stopped.signal });
          server = listen(address.port);
          backoff = 0;
          break;
        } catch {
          if (closing) return;
        }
      }
    }
  })();
  return {
    address,
    async close() {
      closing = true;
      stopped.abort();
      await server.shutdown().catch(() => {});
      await running;
    },
  };
}
