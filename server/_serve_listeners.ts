/**
 * The two listeners of `deno task serve`, the chat server and the optional
 * HTTP endpoint, started with every failure one line for the user.
 *
 * @module
 */

import { StartupError, UsageError } from "../cli/mod.ts";
import {
  type HttpEndpoint,
  type HttpEndpointOptions,
  isLoopbackHost,
  startHttpEndpoint,
} from "./http_endpoint.ts";
import type { Logger } from "./logger.ts";
import { listenError } from "./_listen_error.ts";
import { type Server, type ServerOptions, startServer } from "./server.ts";
import type { CommandLineSettings } from "./settings.ts";
import { readTokenFile } from "./_startup_files.ts";
import { parseAllowedOrigins } from "./transport/ws/mod.ts";
import { loadWebFiles } from "../web/transpile.ts";

/**
 * Start the chat server.
 *
 * @param options Its options, with the address and TLS.
 * @returns The running server.
 * @throws {UsageError} For a setting out of range.
 * @throws {StartupError} When it cannot listen or use the certificate.
 */
export async function startChatListener(
  options: ServerOptions & { hostname: string; port: number },
): Promise<Server> {
  try {
    return await startServer(options);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    const addressProblem = error instanceof Deno.errors.AddrInUse ||
      error instanceof Deno.errors.AddrNotAvailable ||
      error instanceof Deno.errors.PermissionDenied;
    if (options.tls !== undefined && !addressProblem) {
      // Anything else startServer refuses with TLS on is the certificate or key.
      throw new StartupError(
        `Cannot use the TLS certificate and key: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { cause: error },
      );
    }
    listenError(error, `${options.hostname}:${options.port}`);
  }
}

/**
 * The HTTP endpoint's options from the command line, checked before
 * anything listens: its token file is read (off loopback one is needed),
 * `--allowed-origins` parsed, and the chat page's files read and
 * transpiled.
 *
 * @param settings The command line's settings.
 * @returns The options, or `null` without `--http-port`.
 * @throws {StartupError} For an unusable token file, or a page file that
 * cannot be read or transpiled.
 * @throws {UsageError} For a listener off loopback without tokens, or a bad
 * `--allowed-origins`.
 */
export async function httpEndpointOptions(
  settings: CommandLineSettings,
): Promise<HttpEndpointOptions | null> {
  const { httpHost, httpPort, httpTokenFile } = settings;
  let allowedOrigins;
  try {
    allowedOrigins = parseAllowedOrigins(settings.allowedOrigins);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const tokens = httpTokenFile === undefined
    ? null
    : await readTokenFile(httpTokenFile, "HTTP token file");
  if (httpPort === undefined) return null;
  if (tokens === null && !isLoopbackHost(httpHost)) {
    throw new UsageError(
      `--http-host ${httpHost} is not loopback: give --http-token-file, as /stats lists every client's address and nickname`,
    );
  }
  let page;
  try {
    page = await loadWebFiles();
  } catch (error) {
    throw new StartupError(
      `Cannot prepare the chat page (web/): ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  return {
    hostname: httpHost,
    port: httpPort,
    tokens,
    maxConnections: settings.httpMaxConnections,
    headerTimeoutMs: settings.httpHeadTimeoutMs,
    page,
    allowedOrigins,
    maxPendingBytes: settings.maxPendingBytes,
  };
}

/**
 * Start the HTTP endpoint of a running chat server. If it cannot listen,
 * the chat server is stopped without a word, so the error is the only line.
 *
 * @param server The chat server.
 * @param options From {@linkcode httpEndpointOptions}.
 * @param logger The server's logger.
 * @returns The running endpoint.
 * @throws {StartupError} When it cannot listen.
 */
export async function startHttpListener(
  server: Server,
  options: HttpEndpointOptions,
  logger: Logger,
): Promise<HttpEndpoint> {
  try {
    return startHttpEndpoint(server.hub, { ...options, logger });
  } catch (error) {
    logger.mute();
    await server.shutdown({ graceMs: 0 });
    try {
      listenError(error, `${options.hostname}:${options.port}`);
    } catch (described) {
      if (!(described instanceof StartupError)) throw described;
      throw new StartupError(
        `HTTP listener (--http-port): ${described.message}`,
        { cause: error },
      );
    }
  }
}
