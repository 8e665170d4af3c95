/**
 * WebSocket connections into the hub: the `/ws` upgrade on the HTTP
 * endpoint's server, checked against the allowed origins, after which the
 * connection leaves the HTTP server (and its small connection bound) and
 * goes to the hub through the one shared path (`connectClient`), as a TCP
 * connection does. There it meets the same admission (client cap,
 * per-address connection rate, AUTH), limits and slow-consumer policy.
 *
 * @module
 */

import type { HttpUpgrade } from "../../http_server.ts";
import type { Logger } from "../../logger.ts";
import type { ReadTask } from "../connect_client.ts";
import type { StreamTransport } from "../transport.ts";
import { answerUpgrade } from "./handshake.ts";
import type { AllowedOrigins } from "./origins.ts";
import { readWebSocket } from "./reader.ts";
import { WebSocketTransport } from "./transport.ts";

/** Counters of a {@linkcode WebSocketGateway}, for `/metrics`. */
export interface WebSocketCounters {
  /** WebSocket connections open now. */
  open: number;
  /** Upgrades accepted. */
  upgrades: number;
  /** Upgrades refused for their origin. */
  refusedOrigins: number;
}

/** Settings and collaborators of a {@linkcode WebSocketGateway}. */
export interface WebSocketGatewayOptions {
  /** Origins whose pages may connect. */
  allowedOrigins: AllowedOrigins;
  /** Where refused upgrades are logged. */
  logger?: Logger;
  /** The shared path into the hub (`connectClient` with the hub's entrance). */
  connect(transport: StreamTransport, read: ReadTask): void;
}

/** Answers `/ws`: upgrades to a WebSocket and hands the connection over. */
export class WebSocketGateway {
  /** Live counters. */
  readonly counters: WebSocketCounters = {
    open: 0,
    upgrades: 0,
    refusedOrigins: 0,
  };
  #options: WebSocketGatewayOptions;

  /** @param options The allowed origins, the logger, the path into the hub. */
  constructor(options: WebSocketGatewayOptions) {
    this.#options = options;
  }

  /**
   * Answer a request to `/ws`: the upgrade, or its refusal (403 for an
   * origin not allowed, logged).
   *
   * @param request The request.
   * @param peer Where it came from, for the log line (rate-limited per
   * address, as warnings a client causes are).
   * @returns A refusal, or the upgrade for the HTTP server to carry out.
   */
  upgrade(request: Request, peer?: Deno.NetAddr): Response | HttpUpgrade {
    const answer = answerUpgrade(request, this.#options.allowedOrigins);
    if (!answer.ok) {
      if (answer.refusedOrigin !== undefined) {
        this.counters.refusedOrigins++;
        this.#options.logger?.warn("WebSocket upgrade refused", {
          address: peer && `${peer.hostname}:${peer.port}`,
          origin: answer.refusedOrigin,
          reason: "origin not allowed (--allowed-origins)",
        });
      }
      return answer.response;
    }
    return {
      headers: answer.headers,
      takeOver: (conn, early) => this.#admit(conn, early),
    };
  }

  #admit(conn: Deno.Conn, early: Uint8Array): void {
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
      (conn as Deno.TcpConn).setKeepAlive(true);
    } catch {
      // The peer may already be gone; the reader will notice.
    }
    const counters = this.counters;
    counters.upgrades++;
    counters.open++;
    const transport = new WebSocketTransport(conn, () => counters.open--);
    this.#options.connect(transport, (client, inbox) => {
      // A browser speaks hubbub from the start: it gets every frame, and
      // the join confirmation, as a hubbub client does.
      client.declareHubbub();
      return readWebSocket(conn, transport, client, inbox, early);
    });
  }
}
