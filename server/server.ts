import { acceptConnections } from "./accept_loop.ts";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { Client } from "./client.ts";
import { DisconnectReason } from "./events.ts";
import { Hub } from "./hub.ts";
import { Logger } from "./logger.ts";
import { readConnection } from "./tcp_reader.ts";
import { TcpTransport } from "./tcp_transport.ts";

const SERVER_FULL = encodeFrame(Tag.ERROR, 0, "server full");

/** Settings of {@linkcode startServer}; every one has a default. */
export interface ServerOptions {
  /** Address to listen on. Default `127.0.0.1`. */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. Default 9000. */
  port?: number;
  /** Where log lines go. Default: info level, text, standard error. */
  logger?: Logger;
  /**
   * Most clients at once; 0 (the default) sets no limit but the process's
   * open-file cap, where newcomers are refused with ERROR "server full" too.
   */
  maxClients?: number;
  /** Bound of each client's outbound queue in bytes. Default 1 MiB. */
  maxPendingBytes?: number;
  /** Bytes of unhandled input at which readers pause. Default 8 MiB. */
  inputHighWater?: number;
  /** Longest a dropped client's last frames may take to leave, in ms. Default 2000. */
  lingerMs?: number;
}

/** Options of {@linkcode Server.shutdown}. */
export interface ShutdownOptions {
  /** Body of the CLOSE frame every client gets. Default "server shutting down". */
  reason?: string;
  /** Longest to wait for queued frames to leave, in ms. Default 5000. */
  graceMs?: number;
}

/**
 * A running hubbub server: the accept loop, one reader task per connection
 * and the {@linkcode Hub}.
 */
export class Server {
  /** The bound address (useful with port 0). */
  readonly address: Deno.NetAddr;
  /** The central event handler. */
  readonly hub: Hub;
  /** Settles once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  #listener: Deno.Listener;
  #stop = new AbortController();
  #stopping: Promise<void> | null = null;
  #hubDone: Promise<void>;
  #maxPendingBytes: number;

  /** Use {@linkcode startServer}. */
  constructor(
    listener: Deno.Listener,
    hub: Hub,
    options: Required<ServerOptions>,
  ) {
    this.#listener = listener;
    this.hub = hub;
    this.address = listener.addr as Deno.NetAddr;
    this.#maxPendingBytes = options.maxPendingBytes;
    this.#hubDone = hub.run();
    const accepting = acceptConnections(
      listener,
      {
        onConnection: (conn) => this.#onConnection(conn),
        onRefused: (conn) => this.#refuse(conn),
      },
      options.logger,
      this.#stop.signal,
    );
    this.finished = Promise.all([accepting, this.#hubDone]).then(() => {});
  }

  #onConnection(conn: Deno.Conn): void {
    const tcp = conn as Deno.TcpConn;
    if (typeof tcp.setNoDelay === "function") {
      try {
        tcp.setNoDelay(true);
        tcp.setKeepAlive(true);
      } catch {
        // The peer may already be gone; the reader will notice.
      }
    }
    const channel = this.hub.channel;
    const client = new Client(
      new TcpTransport(conn),
      this.#maxPendingBytes,
      (error) =>
        channel.push({
          kind: "gone",
          client,
          detail: error instanceof Error ? error.message : String(error),
        }),
    );
    channel.push({ kind: "connect", client });
    readConnection(conn, client, channel);
  }

  /** Refuse a connection at the open-file cap: ERROR "server full", close. */
  async #refuse(conn: Deno.Conn): Promise<void> {
    this.hub.metrics.countDisconnect(DisconnectReason.ServerFull);
    try {
      await conn.write(SERVER_FULL);
    } finally {
      conn.close();
    }
  }

  /**
   * Stop gracefully: stop accepting, send every client a CLOSE frame with the
   * reason, give queued frames up to `graceMs` to leave, then close
   * everything. Calling it again returns the same promise.
   *
   * @param options The reason and the grace period.
   * @returns A promise that settles when everything is closed.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#stopping ??= this.#shutdown(
      options.reason ?? "server shutting down",
      options.graceMs ?? 5000,
    );
    return this.#stopping;
  }

  async #shutdown(reason: string, graceMs: number): Promise<void> {
    this.#stop.abort();
    this.#listener.close();
    const done = Promise.withResolvers<void>();
    this.hub.channel.push({
      kind: "shutdown",
      reason,
      graceMs,
      done: done.resolve,
    });
    await done.promise;
    this.hub.channel.close();
    await this.finished;
  }
}

/**
 * Bind the listening socket and start serving.
 *
 * @param options Address, limits and logger.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 * @throws {Deno.errors.PermissionDenied} Without `--allow-net`, or for a
 * privileged port.
 *
 * @example Usage
 * ```ts no-eval
 * import { startServer } from "./server.ts";
 * const server = await startServer({ port: 0 });
 * console.log(server.address.port);
 * await server.shutdown();
 * ```
 */
export function startServer(options: ServerOptions = {}): Promise<Server> {
  const settings: Required<ServerOptions> = {
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 9000,
    logger: options.logger ?? new Logger(),
    maxClients: options.maxClients ?? 0,
    maxPendingBytes: options.maxPendingBytes ?? 1024 * 1024,
    inputHighWater: options.inputHighWater ?? 8 * 1024 * 1024,
    lingerMs: options.lingerMs ?? 2000,
  };
  try {
    const listener = Deno.listen({
      hostname: settings.hostname,
      port: settings.port,
      transport: "tcp",
    });
    return Promise.resolve(new Server(listener, new Hub(settings), settings));
  } catch (error) {
    return Promise.reject(error);
  }
}
