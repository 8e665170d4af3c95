import { MAX_NICKNAME_BYTES, MAX_ROOM_NAME_BYTES } from "../protocol/mod.ts";
import { COALESCE_WRITE_RATE } from "./flush_policy.ts";
import { Hub, type HubOptions } from "./hub.ts";
import { DEFAULT_MAX_HANDSHAKES } from "./handshake_allowance.ts";
import { Logger } from "./logger.ts";
import { connectClient, type HubEntrance } from "./transport/mod.ts";
import {
  createTlsContext,
  MAX_READ_BUFFER,
  TcpGateway,
} from "./transport/tcp/mod.ts";

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

  /** Use {@linkcode startServer}. */
  constructor(
    listener: Deno.Listener,
    hub: Hub,
    options: HubOptions,
    tlsContext: ReturnType<typeof createTlsContext> | null = null,
  ) {
    this.hub = hub;
    const hubDone = hub.run();
    const entrance: HubEntrance = {
      inbox: hub.channel,
      maxPendingBytes: options.maxPendingBytes,
      totals: hub.metrics,
      clock: hub.clock,
    };
    this.#tcp = new TcpGateway({
      listener,
      tls: tlsContext,
      handshakeTimeoutMs: options.handshakeTimeoutMs || 10_000,
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
    this.#tcp.stop();
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
