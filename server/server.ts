import { Hub } from "./hub.ts";
import { Logger } from "./logger.ts";
import {
  DEFAULT_HUB_OPTIONS,
  type HubOptions,
  SERVER_SETTINGS,
  type ServerAddress,
  validateHubOptions,
} from "./settings.ts";
import { connectClient, type HubEntrance } from "./transport/mod.ts";
import { createTlsContext, TcpGateway } from "./transport/tcp/mod.ts";

/**
 * Settings of {@linkcode startServer}; every one has a default (see
 * `SERVER_SETTINGS` in `settings.ts`).
 */
export interface ServerOptions
  extends Partial<HubOptions>, Partial<ServerAddress> {
  /** Serve TLS with this PEM certificate chain and private key. */
  tls?: { cert: string; key: string };
}

/** Options of {@linkcode Server.shutdown}. */
export interface ShutdownOptions {
  /** Body of the CLOSE frame every client gets. Default "server shutting down". */
  reason?: string;
  /** Longest to wait for queued frames to leave, in ms. Default 5000. */
  graceMs?: number;
}

/**
 * A running hubbub server: the {@linkcode Hub} and the gateway that brings
 * it connections (TCP or TLS today; each connection, whatever its transport,
 * reaches the hub through `connectClient`).
 */
export class Server {
  /** The bound address (useful with port 0). */
  readonly address: Deno.NetAddr;
  /** The central event handler. */
  readonly hub: Hub;
  /** Settles once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  #tcp: TcpGateway;
  #stopping: Promise<void> | null = null;
  #history: HubOptions["history"];
  #cluster: HubOptions["cluster"];

  /** Use {@linkcode startServer}. */
  constructor(
    listener: Deno.Listener,
    hub: Hub,
    options: HubOptions,
    tlsContext: ReturnType<typeof createTlsContext> | null = null,
  ) {
    this.hub = hub;
    this.#history = options.history;
    this.#cluster = options.cluster;
    const hubDone = hub.run();
    const entrance: HubEntrance = {
      inbox: hub.inbox,
      maxPendingBytes: options.maxPendingBytes,
      totals: hub.metrics,
      clock: hub.clock,
    };
    this.#tcp = new TcpGateway({
      listener,
      tls: tlsContext,
      // With the AUTH deadline off (0), a TLS handshake still gets the default.
      handshakeTimeoutMs: options.handshakeTimeoutMs ||
        SERVER_SETTINGS.handshakeTimeoutMs.default,
      handshakes: hub.handshakes,
      metrics: hub.metrics,
      logger: options.logger,
      connect: (transport, read) => connectClient(entrance, transport, read),
    });
    this.address = this.#tcp.address;
    this.finished = Promise.all([this.#tcp.finished, hubDone]).then(() => {});
  }

  /**
   * Stop gracefully: stop accepting, send every client a CLOSE frame with the
   * reason, give queued frames up to `graceMs` to leave, then close
   * everything, the history store last (it writes what it still holds, so a
   * clean shutdown loses no relayed message). Calling it again returns the
   * same promise.
   *
   * @param options The reason and the grace period.
   * @returns A promise that settles when everything is closed.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#stopping ??= this.#shutdown(
      options.reason ?? "server shutting down",
      options.graceMs ?? SERVER_SETTINGS.shutdownGraceMs.default,
    );
    return this.#stopping;
  }

  async #shutdown(reason: string, graceMs: number): Promise<void> {
    this.#tcp.stop();
    const done = Promise.withResolvers<void>();
    this.hub.inbox.push({
      kind: "shutdown",
      reason,
      graceMs,
      done: done.resolve,
    });
    await done.promise;
    this.hub.inbox.close();
    await this.finished;
    await this.#history?.close();
    // Cluster mode: off the heartbeat, this node's members removed.
    await this.#cluster?.close();
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
  const {
    hostname = SERVER_SETTINGS.hostname.default,
    port = SERVER_SETTINGS.port.default,
    tls,
    ...rest
  } = options;
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

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
