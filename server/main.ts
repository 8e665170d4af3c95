/**
 * `deno task serve`: run the hubbub chat server from the command line.
 *
 * @module
 */

import { defineCommand, runCommand } from "../cli/mod.ts";
import type { HttpEndpoint } from "./http_endpoint.ts";
import { Logger } from "./logger.ts";
import type { Server } from "./server.ts";
import {
  SERVER_FLAGS,
  serverSettingsOf,
  settingsFromCommandLine,
} from "./settings.ts";
import { ShutdownSignals } from "./shutdown_signals.ts";
import { readTlsFiles, readTokenFile } from "./_startup_files.ts";
import { openHistory } from "./_history_startup.ts";
import { startCluster } from "./_cluster_startup.ts";
import {
  httpEndpointOptions,
  startChatListener,
  startHttpListener,
} from "./_serve_listeners.ts";

/** Longest wait at exit for log lines a stalled stderr reader holds up. */
const LOG_FLUSH_TIMEOUT_MS = 2000;
/** Longest wait for the log on an exit at once (a second signal). */
const EXIT_NOW_LOG_FLUSH_TIMEOUT_MS = 250;

const command = defineCommand({
  usage: "deno task serve [options]",
  name: "hubbub serve",
  summary:
    "Run the hubbub chat server. Durations are in seconds; 0 turns a rule off.",
  options: SERVER_FLAGS,
  epilog:
    `Signals: the first SIGINT or SIGTERM stops gracefully (CLOSE to every client,
then up to --shutdown-grace seconds for queued frames) and exits 0. The same
signal again within a second is the same request (a terminal's Ctrl-C or
systemd reaches both deno task and the server, and deno task forwards it too);
any other signal after the first, or the same one later, exits at once with 1.`,
});

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

await runCommand(command, Deno.args, async (values) => {
  const settings = settingsFromCommandLine(values);
  const logger = new Logger({
    level: settings.quiet ? "warn" : settings.logLevel,
    format: settings.logFormat,
    bufferBytes: settings.logBufferBytes,
  });
  const tls = await readTlsFiles(settings.tlsCertFile, settings.tlsKeyFile);
  const tokens = settings.tokenFile === undefined
    ? null
    : await readTokenFile(settings.tokenFile, "Token file");
  const httpOptions = await httpEndpointOptions(settings);
  // Cluster mode keeps history in Redis (the rooms' streams).
  const cluster = await startCluster(settings, logger);
  const history = cluster === null
    ? await openHistory(settings, logger)
    : cluster.history;
  const server = await startChatListener({
    ...serverSettingsOf(settings),
    tls,
    logger,
    tokens,
    history,
    cluster: cluster?.cluster ?? null,
  });
  const http = httpOptions === null
    ? null
    : await startHttpListener(server, httpOptions, logger);

  logger.log("info", "Listening", {
    address: `${server.address.hostname}:${server.address.port}`,
    tls: tls !== undefined,
    auth: tokens !== null,
    history: history === null
      ? "off"
      : cluster === null
      ? settings.historyDb
      : "redis",
    cluster: cluster === null
      ? undefined
      : `${cluster.url} node ${cluster.cluster.node}`,
    http: http === null
      ? undefined
      : `${http.address.hostname}:${http.address.port}`,
    max_clients: server.hub.gauges.maxClients || "open-file limit",
  }, true);
  handleSignals(server, http, logger, settings.shutdownGraceMs);
  await server.finished;
});
