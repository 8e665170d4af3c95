/**
 * `deno task serve`: run the hubbub chat server from the command line.
 *
 * @module
 */

import {
  defineCommand,
  runCommand,
  StartupError,
  UsageError,
} from "../cli/mod.ts";
import { MAX_NICKNAME_BYTES, MAX_ROOM_NAME_BYTES } from "../protocol/mod.ts";
import {
  DEFAULT_HTTP_HEADER_TIMEOUT_MS,
  DEFAULT_HTTP_MAX_CONNECTIONS,
  type HttpEndpoint,
  isLoopbackHost,
  startHttpEndpoint,
} from "./http_endpoint.ts";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  Logger,
  type LogLevel,
} from "./logger.ts";
import { DEFAULT_LOG_BUFFER_BYTES } from "./log_writer.ts";
import {
  DEFAULT_HUB_OPTIONS,
  MIN_PENDING_BYTES,
  type Server,
  startServer,
} from "./server.ts";
import { ShutdownSignals } from "./shutdown_signals.ts";
import { TokenSet } from "./token_set.ts";

const defaults = DEFAULT_HUB_OPTIONS;
/** Longest wait at exit for log lines a stalled stderr reader holds up. */
const LOG_FLUSH_TIMEOUT_MS = 2000;
/** Longest wait for the log on an exit at once (a second signal). */
const EXIT_NOW_LOG_FLUSH_TIMEOUT_MS = 250;

const command = defineCommand({
  usage: "deno task serve [options]",
  name: "hubbub serve",
  summary:
    "Run the hubbub chat server. Durations are in seconds; 0 turns a rule off.",
  options: {
    host: {
      type: "string",
      default: "127.0.0.1",
      valueName: "HOST",
      description: "Address to listen on",
    },
    port: {
      type: "integer",
      default: 9000,
      min: 0,
      max: 65535,
      valueName: "PORT",
      description: "Port to listen on (0 picks a free one)",
    },
    "tls-cert": {
      type: "string",
      valueName: "FILE",
      description:
        "Serve TLS with this PEM certificate chain (needs --tls-key)",
    },
    "tls-key": {
      type: "string",
      valueName: "FILE",
      description: "PEM private key for --tls-cert",
    },
    "token-file": {
      type: "string",
      valueName: "FILE",
      description:
        "Require AUTH with one of the tokens in FILE (one per line, # comments)",
    },
    "handshake-timeout": {
      type: "number",
      default: defaults.handshakeTimeoutMs / 1000,
      min: 0,
      valueName: "SECONDS",
      description:
        "Drop a connection that has not finished its TLS handshake, or (with --token-file) sent AUTH, by then (0: no AUTH deadline; a TLS handshake still gets 10 s)",
    },
    "max-clients": {
      type: "integer",
      default: defaults.maxClients,
      min: 0,
      valueName: "N",
      description:
        "Most clients at once; more get ERROR 'server full' (0: up to the open-file limit)",
    },
    "max-handshakes": {
      type: "integer",
      default: defaults.maxHandshakes,
      min: 1,
      valueName: "N",
      description:
        "Most connections at once still in their TLS handshake or awaiting AUTH (they take no client slot); more are refused, with ERROR 'server busy' once TLS is up",
    },
    "max-pending-bytes": {
      type: "integer",
      default: defaults.maxPendingBytes,
      min: MIN_PENDING_BYTES,
      valueName: "BYTES",
      description:
        "Outbound queue bound per client; over it the client is dropped as a slow consumer",
    },
    "write-deadline": {
      type: "number",
      default: defaults.writeDeadlineMs / 1000,
      min: 0,
      valueName: "SECONDS",
      description:
        "Drop a client whose socket accepts nothing for this long (slow consumer)",
    },
    "max-msgs-per-sec": {
      type: "number",
      default: defaults.maxMessagesPerSecond,
      min: 0,
      valueName: "N",
      description:
        "Messages (CHAT, JOIN, NICK, ROOMS, WHO) per second per client; excess is dropped with an ERROR notice a second (0: no frame-rate limit at all, per-address and control-frame ones included)",
    },
    "msg-burst": {
      type: "integer",
      default: defaults.messageBurst,
      min: 1,
      valueName: "N",
      description: "Messages a client may send at once before the rate applies",
    },
    "max-address-msgs-per-sec": {
      type: "number",
      default: defaults.maxAddressMessagesPerSecond,
      min: 0,
      valueName: "N",
      description:
        "Messages per second shared by all connections from one address (IPv6: one /64), so reconnecting brings no fresh allowance (0: no such limit)",
    },
    "address-msg-burst": {
      type: "integer",
      default: defaults.addressMessageBurst,
      min: 1,
      valueName: "N",
      description:
        "Messages one address's connections may send at once before that rate applies",
    },
    "max-control-frames-per-sec": {
      type: "number",
      default: defaults.maxControlFramesPerSecond,
      min: 0,
      valueName: "N",
      description:
        "Other frames (PING, PONG, CLOSE, unknown tags) per second per client, as many at once; excess PINGs get no PONG (0: no limit)",
    },
    "max-address-connects-per-sec": {
      type: "number",
      default: defaults.maxAddressConnectsPerSecond,
      min: 0,
      valueName: "N",
      description:
        "New connections per second from one address; more get ERROR 'too many connections from your address' (0: no limit)",
    },
    "address-connect-burst": {
      type: "integer",
      default: defaults.addressConnectBurst,
      min: 1,
      valueName: "N",
      description:
        "Connections one address may open at once before that rate applies",
    },
    "max-room-name-bytes": {
      type: "integer",
      default: defaults.maxRoomNameBytes,
      min: 1,
      max: MAX_ROOM_NAME_BYTES,
      valueName: "BYTES",
      description: "Longest room name (at most the protocol's 64)",
    },
    "max-nickname-bytes": {
      type: "integer",
      default: defaults.maxNicknameBytes,
      min: 1,
      max: MAX_NICKNAME_BYTES,
      valueName: "BYTES",
      description: "Longest nickname (at most the protocol's 32)",
    },
    "presence-max-members": {
      type: "integer",
      default: defaults.presenceMaxMembers,
      min: 0,
      valueName: "N",
      description:
        "Announce joins, leaves and renames only in rooms of at most N members",
    },
    "coalesce-write-rate": {
      type: "number",
      default: defaults.coalesceWriteRate,
      min: 0,
      valueName: "N",
      description:
        "Over N socket writes a second, hold small batches back 0.1 ms, or space big rooms' flush rounds (20 us a write, at most 50 ms), to send output in fewer writes (0: never)",
    },
    "ping-interval": {
      type: "number",
      default: defaults.pingIntervalMs / 1000,
      min: 0,
      valueName: "SECONDS",
      description: "Send PING to a client silent for this long",
    },
    "idle-timeout": {
      type: "number",
      default: defaults.idleTimeoutMs / 1000,
      min: 0,
      valueName: "SECONDS",
      description: "Drop a client silent for this long (any frame counts)",
    },
    "frame-timeout": {
      type: "number",
      default: defaults.frameTimeoutMs / 1000,
      min: 0,
      valueName: "SECONDS",
      description:
        "Drop a client whose frame, once begun, is not complete by then (ERROR 'frame timeout'), whatever --idle-timeout says",
    },
    "shutdown-grace": {
      type: "number",
      default: 5,
      min: 0,
      valueName: "SECONDS",
      description: "On SIGINT/SIGTERM, time given to queued frames to leave",
    },
    "http-port": {
      type: "integer",
      min: 0,
      max: 65535,
      valueName: "PORT",
      description:
        "Serve /healthz, /metrics and /stats over HTTP on this port (0: a free one)",
    },
    "http-host": {
      type: "string",
      default: "127.0.0.1",
      valueName: "HOST",
      description: "Address of the HTTP listener",
    },
    "http-token-file": {
      type: "string",
      valueName: "FILE",
      description:
        "Require Authorization: Bearer <token> for /metrics and /stats, with a token in FILE (one per line, # comments); needed off loopback",
    },
    "http-max-connections": {
      type: "integer",
      default: DEFAULT_HTTP_MAX_CONNECTIONS,
      min: 1,
      valueName: "N",
      description:
        "Most HTTP connections open at once; more wait in the kernel's backlog",
    },
    "http-head-timeout": {
      type: "number",
      default: DEFAULT_HTTP_HEADER_TIMEOUT_MS / 1000,
      min: 0.001,
      valueName: "SECONDS",
      description:
        "Close an HTTP connection that has not sent its whole request head by then",
    },
    "log-format": {
      type: "string",
      default: "text",
      choices: LOG_FORMATS,
      valueName: "FORMAT",
      description: "Log line format",
    },
    "log-level": {
      type: "string",
      default: "info",
      choices: LOG_LEVELS,
      valueName: "LEVEL",
      description: "Least severe level logged",
    },
    "log-buffer-bytes": {
      type: "integer",
      default: DEFAULT_LOG_BUFFER_BYTES,
      min: 4096,
      valueName: "BYTES",
      description:
        "Log lines waiting for a slow stderr reader; past it they are dropped and counted",
    },
    quiet: {
      type: "boolean",
      description:
        "Do not log a line per connect and disconnect (same as --log-level warn)",
    },
  },
  epilog:
    `Signals: the first SIGINT or SIGTERM stops gracefully (CLOSE to every client,
then up to --shutdown-grace seconds for queued frames) and exits 0. The same
signal again within a second is the same request (a terminal's Ctrl-C or
systemd reaches both deno task and the server, and deno task forwards it too);
any other signal after the first, or the same one later, exits at once with 1.`,
});

async function readFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new StartupError(`${what} ${path} does not exist`, {
        cause: error,
      });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new StartupError(
        `${what} ${path} cannot be read: permission denied`,
        {
          cause: error,
        },
      );
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new StartupError(`${what} ${path} is a directory`, {
        cause: error,
      });
    }
    throw error;
  }
}

function listenError(error: unknown, address: string): never {
  if (error instanceof Deno.errors.AddrInUse) {
    throw new StartupError(`Address ${address} is already in use`, {
      cause: error,
    });
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    throw new StartupError(
      `Address ${address} is not available on this machine`,
      {
        cause: error,
      },
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    throw new StartupError(`Not allowed to listen on ${address}`, {
      cause: error,
    });
  }
  if (
    error instanceof Error &&
    /certificate|private key|pem|tls/i.test(error.message)
  ) {
    throw new StartupError(
      `Cannot use the TLS certificate or key: ${error.message}`,
      {
        cause: error,
      },
    );
  }
  if (error instanceof Error && /lookup|resolve|name/i.test(error.message)) {
    throw new StartupError(
      `Cannot resolve the host in ${address}: ${error.message}`,
      {
        cause: error,
      },
    );
  }
  throw error;
}

/**
 * Stop gracefully on the first SIGINT or SIGTERM; exit at once (status 1) on
 * another, except a repeat of the first within a second, which is the same
 * request delivered twice (see {@linkcode ShutdownSignals}).
 */
function handleSignals(
  server: Server,
  http: HttpEndpoint | null,
  logger: Logger,
  graceMs: number,
): void {
  const signals = new ShutdownSignals();
  const onSignal = async (signal: Deno.Signal) => {
    const action = signals.decide(signal, performance.now());
    if (action === "duplicate") {
      logger.debug("Repeated signal: the same shutdown request", { signal });
      return;
    }
    if (action === "exit") {
      logger.warn("Second signal: exiting at once", { signal });
      // At once, but with the reason written (the logger writes behind).
      await logger.flush(EXIT_NOW_LOG_FLUSH_TIMEOUT_MS);
      Deno.exit(1);
    }
    logger.info("Shutting down", { signal, grace_seconds: graceMs / 1000 });
    await server.shutdown({ graceMs });
    await http?.close();
    logger.info("Stopped");
    await logger.flush(LOG_FLUSH_TIMEOUT_MS);
    Deno.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => onSignal(signal));
  }
}

await runCommand(command, Deno.args, async (options) => {
  const certFile = options["tls-cert"];
  const keyFile = options["tls-key"];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const logger = new Logger({
    level: options.quiet ? "warn" : options["log-level"] as LogLevel,
    format: options["log-format"] as LogFormat,
    bufferBytes: options["log-buffer-bytes"],
  });
  const tls = certFile !== undefined && keyFile !== undefined
    ? {
      cert: await readFile(certFile, "TLS certificate"),
      key: await readFile(keyFile, "TLS key"),
    }
    : undefined;
  let tokens: TokenSet | null = null;
  const tokenFile = options["token-file"];
  if (tokenFile !== undefined) {
    try {
      tokens = TokenSet.parse(await readFile(tokenFile, "Token file"));
    } catch (error) {
      if (error instanceof RangeError) {
        throw new StartupError(`Token file ${tokenFile} holds no token`);
      }
      throw error;
    }
  }

  // The HTTP settings are checked before anything listens.
  const httpPort = options["http-port"];
  const httpTokenFile = options["http-token-file"];
  let httpTokens: TokenSet | null = null;
  if (httpTokenFile !== undefined) {
    try {
      httpTokens = TokenSet.parse(
        await readFile(httpTokenFile, "HTTP token file"),
      );
    } catch (error) {
      if (error instanceof RangeError) {
        throw new StartupError(`HTTP token file ${httpTokenFile} holds no token`);
      }
      throw error;
    }
  }
  if (
    httpPort !== undefined && httpTokens === null &&
    !isLoopbackHost(options["http-host"])
  ) {
    throw new UsageError(
      `--http-host ${
        options["http-host"]
      } is not loopback: give --http-token-file, as /stats lists every client's address and nickname`,
    );
  }

  const address = `${options.host}:${options.port}`;
  let server: Server;
  try {
    server = await startServer({
      hostname: options.host,
      port: options.port,
      tls,
      logger,
      tokens,
      maxClients: options["max-clients"],
      maxHandshakes: options["max-handshakes"],
      maxPendingBytes: options["max-pending-bytes"],
      writeDeadlineMs: options["write-deadline"] * 1000,
      maxMessagesPerSecond: options["max-msgs-per-sec"],
      messageBurst: options["msg-burst"],
      maxAddressMessagesPerSecond: options["max-address-msgs-per-sec"],
      addressMessageBurst: options["address-msg-burst"],
      maxControlFramesPerSecond: options["max-control-frames-per-sec"],
      maxAddressConnectsPerSecond: options["max-address-connects-per-sec"],
      addressConnectBurst: options["address-connect-burst"],
      maxRoomNameBytes: options["max-room-name-bytes"],
      maxNicknameBytes: options["max-nickname-bytes"],
      presenceMaxMembers: options["presence-max-members"],
      coalesceWriteRate: options["coalesce-write-rate"],
      pingIntervalMs: options["ping-interval"] * 1000,
      idleTimeoutMs: options["idle-timeout"] * 1000,
      frameTimeoutMs: options["frame-timeout"] * 1000,
      handshakeTimeoutMs: options["handshake-timeout"] * 1000,
    });
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    const addressProblem = error instanceof Deno.errors.AddrInUse ||
      error instanceof Deno.errors.AddrNotAvailable ||
      error instanceof Deno.errors.PermissionDenied;
    if (tls !== undefined && !addressProblem) {
      // Anything else startServer refuses with TLS on is the certificate or key.
      throw new StartupError(
        `Cannot use the TLS certificate and key: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { cause: error },
      );
    }
    listenError(error, address);
  }

  let http: HttpEndpoint | null = null;
  if (httpPort !== undefined) {
    const httpAddress = `${options["http-host"]}:${httpPort}`;
    try {
      http = startHttpEndpoint(server.hub, {
        hostname: options["http-host"],
        port: httpPort,
        logger,
        tokens: httpTokens,
        maxConnections: options["http-max-connections"],
        headerTimeoutMs: options["http-head-timeout"] * 1000,
      });
    } catch (error) {
      // The chat listener was up for no one: stop it without a word, so the
      // error below is the only line.
      logger.mute();
      await server.shutdown({ graceMs: 0 });
      try {
        listenError(error, httpAddress);
      } catch (described) {
        if (!(described instanceof StartupError)) throw described;
        throw new StartupError(
          `HTTP listener (--http-port): ${described.message}`,
          { cause: error },
        );
      }
    }
  }

  logger.log("info", "Listening", {
    address: `${server.address.hostname}:${server.address.port}`,
    tls: tls !== undefined,
    auth: tokens !== null,
    http: http === null
      ? undefined
      : `${http.address.hostname}:${http.address.port}`,
    max_clients: server.hub.maxClients || "open-file limit",
  }, true);
  handleSignals(server, http, logger, options["shutdown-grace"] * 1000);
  await server.finished;
});
