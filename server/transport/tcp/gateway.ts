/**
 * TCP and TLS connections into the hub: the accept loop, TCP options, the
 * TLS handshake (within its timeout and the handshake allowance), and the
 * refusals that happen before a connection is a client. Every connection
 * that makes it goes to the hub through the one shared path
 * (`connectClient`), as a WebSocket gateway's will.
 *
 * @module
 */

import type tls from "node:tls";
import { encodeFrame, Tag } from "../../../protocol/mod.ts";
import { DisconnectReason } from "../../events.ts";
import type { Logger } from "../../logger.ts";
import type { Metrics } from "../../metrics.ts";
import type { ReadTask } from "../connect_client.ts";
import type { StreamTransport } from "../transport.ts";
import { acceptConnections } from "./accept_loop.ts";
import { readConnection } from "./reader.ts";
import { TlsSession } from "./tls_session.ts";
import { type StreamConnection, TcpTransport } from "./transport.ts";

const SERVER_FULL = encodeFrame(Tag.ERROR, 0, "server full");

/** Settings and collaborators of a {@linkcode TcpGateway}. */
export interface TcpGatewayOptions {
  /** The listening socket. */
  listener: Deno.Listener;
  /** The TLS context when the server speaks TLS, else `null`. */
  tls: tls.SecureContext | null;
  /** Longest a TLS handshake may take, in ms. */
  handshakeTimeoutMs: number;
  /** The places for connections in their handshake (`--max-handshakes`). */
  handshakes: { take(): boolean; release(): void };
  /** Where connects refused here and failed accepts are counted. */
  metrics: Pick<Metrics, "connects" | "countDisconnect" | "countAcceptError">;
  /** Where the accept loop warns. */
  logger: Logger;
  /** The shared path into the hub (`connectClient` with the hub's entrance). */
  connect(transport: StreamTransport, read: ReadTask): void;
}

/**
 * Serves one TCP listener: accepts, sets no-delay and keepalive, runs TLS
 * when configured, and hands each connection over with `connect`.
 */
export class TcpGateway {
  /** The bound address (useful with port 0). */
  readonly address: Deno.NetAddr;
  /** Settles once the accept loop has ended. */
  readonly finished: Promise<void>;
  #options: TcpGatewayOptions;
  #stop = new AbortController();
  /** TLS sessions still negotiating, not yet handed to the hub. */
  #handshaking = new Set<TlsSession>();

  /** @param options The listener, TLS, limits and the path into the hub. */
  constructor(options: TcpGatewayOptions) {
    this.#options = options;
    this.address = options.listener.addr as Deno.NetAddr;
    this.finished = acceptConnections(
      options.listener,
      {
        onConnection: (conn) => this.#onConnection(conn),
        onRefused: (conn) => this.#refuse(conn),
        onAcceptError: (kind) => options.metrics.countAcceptError(kind),
      },
      options.logger,
      this.#stop.signal,
    );
  }

  /**
   * Stop accepting: close the listener and the sessions still in their
   * handshake. Connections already handed over are the hub's to close.
   */
  stop(): void {
    this.#stop.abort();
    try {
      this.#options.listener.close();
    } catch {
      // Closed already.
    }
    for (const conn of this.#handshaking) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  #onConnection(conn: Deno.Conn): void {
    const tcp = conn as Deno.TcpConn;
    try {
      tcp.setNoDelay(true);
      tcp.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the reader will notice.
    }
    const context = this.#options.tls;
    if (context === null) this.#admit(conn);
    else if (this.#options.handshakes.take()) {
      this.#admitAfterHandshake(new TlsSession(conn, context));
    } else this.#refuseHandshake(conn);
  }

  /**
   * Too many connections are in their handshake: close this one at once
   * (before TLS there is no way to send it a frame).
   */
  #refuseHandshake(conn: Deno.Conn): void {
    const metrics = this.#options.metrics;
    metrics.connects++;
    metrics.countDisconnect(DisconnectReason.HandshakeLimit);
    try {
      conn.close();
    } catch {
      // Gone already.
    }
  }

  /**
   * A TLS connection becomes a client only once its handshake is done, so a
   * peer that never completes one takes no id, no room and no client slot.
   * At the handshake timeout the session is closed with its TCP connection,
   * so a silent peer holds no descriptor past it.
   */
  async #admitAfterHandshake(conn: TlsSession): Promise<void> {
    this.#handshaking.add(conn);
    const timer = setTimeout(
      () => conn.close(),
      this.#options.handshakeTimeoutMs,
    );
    try {
      await conn.handshake();
    } catch {
      this.#options.metrics.connects++;
      this.#options.metrics.countDisconnect(DisconnectReason.Gone);
      try {
        conn.close();
      } catch {
        // Closed by the timer already.
      }
      return;
    } finally {
      clearTimeout(timer);
      this.#handshaking.delete(conn);
      this.#options.handshakes.release();
    }
    if (this.#stop.signal.aborted) conn.close();
    else this.#admit(conn);
  }

  /** Hand a connection to the hub: its transport, and its reader. */
  #admit(conn: StreamConnection): void {
    this.#options.connect(
      new TcpTransport(conn),
      (client, inbox) => readConnection(conn, client, inbox),
    );
  }

  /** Refuse a connection at the open-file cap: ERROR "server full", close. */
  async #refuse(conn: Deno.Conn): Promise<void> {
    const metrics = this.#options.metrics;
    metrics.connects++;
    metrics.countDisconnect(DisconnectReason.ServerFull);
    try {
      await conn.write(SERVER_FULL);
    } finally {
      conn.close();
    }
  }
}
