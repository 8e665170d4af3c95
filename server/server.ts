import { acceptConnections } from "./transport/tcp/accept_loop.ts";
import {
  encodeFrame,
  MAX_NICKNAME_BYTES,
  MAX_ROOM_NAME_BYTES,
  Tag,
} from "../protocol/mod.ts";
import { Client } from "./client.ts";
import { DisconnectReason } from "./events.ts";
import { COALESCE_WRITE_RATE } from "./flush_policy.ts";
import { Hub, type HubOptions } from "./hub.ts";
import { DEFAULT_MAX_HANDSHAKES } from "./handshake_allowance.ts";
import { Logger } from "./logger.ts";
import { MAX_READ_BUFFER, readConnection } from "./transport/tcp/reader.ts";
import { TcpTransport } from "./transport/tcp/transport.ts";
import { createTlsContext, TlsSession } from "./transport/tcp/tls_session.ts";
import { describeConnectionError } from "./transport/_connection_error.ts";
import type { StreamConnection } from "./transport/transport.ts";

const SERVER_FULL = encodeFrame(Tag.ERROR, 0, "server full");

/** Settings of {@linkcode startServer}; every one has a default. */
export interface ServerOptions extends Partial<HubOptions> {
  /** Address to listen on. Default `127.0.0.1`. */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. Default 9000. */
  port?: number;
  /** Serve TLS with this PEM certificate chain and private key. */
  tls?: { cert: string; key: string };
}

/**
 * The defaults of every {@linkcode HubOptions} setting (durations in ms; 0
 * turns a rule off).
 */
export const DEFAULT_HUB_OPTIONS: Readonly<
  Omit<HubOptions, "logger" | "tokens">
> = {
  maxClients: 0,
  maxPendingBytes: 1024 * 1024,
  writeDeadlineMs: 10_000,
  inputHighWater: 8 * 1024 * 1024,
  lingerMs: 2000,
  pingIntervalMs: 0,
  idleTimeoutMs: 0,
  frameTimeoutMs: 5000,
  handshakeTimeoutMs: 10_000,
  maxHandshakes: DEFAULT_MAX_HANDSHAKES,
  maxMessagesPerSecond: 1000,
  messageBurst: 1000,
  maxAddressMessagesPerSecond: 3000,
  addressMessageBurst: 2000,
  maxControlFramesPerSecond: 100,
  maxAddressConnectsPerSecond: 50,
  addressConnectBurst: 500,
  maxRoomNameBytes: MAX_ROOM_NAME_BYTES,
  maxNicknameBytes: MAX_NICKNAME_BYTES,
  presenceMaxMembers: 100,
  coalesceWriteRate: COALESCE_WRITE_RATE,
};

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
  #handshakeTimeoutMs: number;
  /** TLS sessions still negotiating, not yet handed to the hub. */
  #handshaking = new Set<TlsSession>();
  /** Set when the server speaks TLS. */
  #tlsContext: ReturnType<typeof createTlsContext> | null;

  /** Use {@linkcode startServer}. */
  constructor(
    listener: Deno.Listener,
    hub: Hub,
    options: HubOptions,
    tlsContext: ReturnType<typeof createTlsContext> | null = null,
  ) {
    this.#listener = listener;
    this.#tlsContext = tlsContext;
    this.hub = hub;
    this.address = listener.addr as Deno.NetAddr;
    this.#maxPendingBytes = options.maxPendingBytes;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs || 10_000;
    this.#hubDone = hub.run();
    const accepting = acceptConnections(
      listener,
      {
        onConnection: (conn) => this.#onConnection(conn),
        onRefused: (conn) => this.#refuse(conn),
        onAcceptError: (kind) => hub.metrics.countAcceptError(kind),
      },
      options.logger,
      this.#stop.signal,
    );
    this.finished = Promise.all([accepting, this.#hubDone]).then(() => {});
  }

  #onConnection(conn: Deno.Conn): void {
    const tcp = conn as Deno.TcpConn;
    try {
      tcp.setNoDelay(true);
      tcp.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the reader will notice.
    }
    if (this.#tlsContext === null) this.#admit(conn);
    else if (this.hub.handshakes.take()) {
      this.#admitAfterHandshake(new TlsSession(conn, this.#tlsContext));
    } else this.#refuseHandshake(conn);
  }

  /**
   * Too many connections are in their handshake: close this one at once
   * (before TLS there is no way to send it a frame).
   */
  #refuseHandshake(conn: Deno.Conn): void {
    this.hub.metrics.connects++;
    this.hub.metrics.countDisconnect(DisconnectReason.HandshakeLimit);
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
    const timer = setTimeout(() => conn.close(), this.#handshakeTimeoutMs);
    try {
      await conn.handshake();
    } catch {
      this.hub.metrics.connects++;
      this.hub.metrics.countDisconnect(DisconnectReason.Gone);
      try {
        conn.close();
      } catch {
        // Closed by the timer already.
      }
      return;
    } finally {
      clearTimeout(timer);
      this.#handshaking.delete(conn);
      this.hub.handshakes.release();
    }
    if (this.#stop.signal.aborted) conn.close();
    else this.#admit(conn);
  }

  /** Hand an accepted connection to the hub and start its reader. */
  #admit(conn: StreamConnection): void {
    const channel = this.hub.channel;
    const client = new Client(
      new TcpTransport(conn),
      this.#maxPendingBytes,
      (error) =>
        channel.push({
          kind: "gone",
          client,
          detail: describeConnectionError(error),
        }),
      this.hub.metrics,
      this.hub.clock,
    );
    channel.push({ kind: "connect", client });
    readConnection(conn, client, channel);
  }

  /** Refuse a connection at the open-file cap: ERROR "server full", close. */
  async #refuse(conn: Deno.Conn): Promise<void> {
    this.hub.metrics.connects++;
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
    for (const conn of this.#handshaking) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
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
 * @throws {RangeError} When a setting is out of range.
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
  const { hostname = "127.0.0.1", port = 9000, tls, ...rest } = options;
  const settings: HubOptions = {
    ...DEFAULT_HUB_OPTIONS,
    logger: new Logger(),
    tokens: null,
    ...withoutUndefined(rest),
  };
  try {
    validateHubOptions(settings);
    const tlsContext = tls === undefined ? null : createTlsContext(tls);
    const listener = Deno.listen({ hostname, port, transport: "tcp" });
    return Promise.resolve(
      new Server(listener, new Hub(settings), settings, tlsContext),
    );
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Smallest accepted outbound queue bound: four of the largest chunks a
 * reader hands the hub at once, so that a client reading at full speed always
 * has room for one chunk in flight and the next ones queued.
 */
export const MIN_PENDING_BYTES = 4 * MAX_READ_BUFFER;

/**
 * Check hub settings before anything starts.
 *
 * @param options The settings.
 * @throws {RangeError} Naming the first setting out of range.
 */
export function validateHubOptions(options: HubOptions): void {
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new RangeError(message);
  };
  const whole = (value: number, min: number) =>
    Number.isInteger(value) && value >= min;
  const duration = (value: number) => Number.isFinite(value) && value >= 0;
  check(
    whole(options.maxClients, 0),
    "maxClients must be a whole number, 0 or more",
  );
  check(
    whole(options.maxHandshakes, 1),
    "maxHandshakes must be a whole number, 1 or more",
  );
  check(
    whole(options.maxPendingBytes, MIN_PENDING_BYTES),
    `maxPendingBytes must be a whole number, at least ${MIN_PENDING_BYTES}`,
  );
  check(
    whole(options.inputHighWater, 1),
    "inputHighWater must be a whole number, 1 or more",
  );
  for (
    const name of [
      "writeDeadlineMs",
      "lingerMs",
      "pingIntervalMs",
      "idleTimeoutMs",
      "frameTimeoutMs",
      "handshakeTimeoutMs",
      "maxMessagesPerSecond",
      "maxAddressMessagesPerSecond",
      "maxControlFramesPerSecond",
      "maxAddressConnectsPerSecond",
    ] as const
  ) {
    check(duration(options[name]), `${name} must be a number, 0 or more`);
  }
  for (
    const name of [
      "messageBurst",
      "addressMessageBurst",
      "addressConnectBurst",
    ] as const
  ) {
    check(whole(options[name], 1), `${name} must be a whole number, 1 or more`);
  }
  check(
    whole(options.maxRoomNameBytes, 1) &&
      options.maxRoomNameBytes <= MAX_ROOM_NAME_BYTES,
    `maxRoomNameBytes must be from 1 to ${MAX_ROOM_NAME_BYTES}`,
  );
  check(
    whole(options.maxNicknameBytes, 1) &&
      options.maxNicknameBytes <= MAX_NICKNAME_BYTES,
    `maxNicknameBytes must be from 1 to ${MAX_NICKNAME_BYTES}`,
  );
  check(
    whole(options.presenceMaxMembers, 0),
    "presenceMaxMembers must be a whole number, 0 or more",
  );
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
