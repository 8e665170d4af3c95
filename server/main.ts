/**
 * `deno task serve`: run the hubbub chat server from the command line.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import { Logger } from "./logger.ts";
import { type Server, startServer } from "./server.ts";

const command = defineCommand({
  usage: "deno task serve [options]",
  name: "hubbub serve",
  summary: "Run the hubbub chat server.",
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
    quiet: {
      type: "boolean",
      description: "Do not log a line per connect and disconnect",
    },
  },
});

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
  if (error instanceof Error && /lookup|resolve|name/i.test(error.message)) {
    throw new StartupError(
      `Cannot resolve host in ${address}: ${error.message}`,
      {
        cause: error,
      },
    );
  }
  throw error;
}

/**
 * Stop gracefully on the first SIGINT or SIGTERM; exit at once on a second.
 */
function handleSignals(server: Server, logger: Logger): void {
  let signalled = false;
  const onSignal = (signal: Deno.Signal) => {
    if (signalled) {
      logger.warn("Second signal: exiting at once", { signal });
      Deno.exit(1);
    }
    signalled = true;
    logger.info("Shutting down", { signal });
    server.shutdown().then(() => {
      logger.info("Stopped");
      Deno.exit(0);
    });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => onSignal(signal));
  }
}

await runCommand(command, Deno.args, async (options) => {
  const logger = new Logger({ level: options.quiet ? "warn" : "info" });
  const address = `${options.host}:${options.port}`;
  let server: Server;
  try {
    server = await startServer({
      hostname: options.host,
      port: options.port,
      logger,
    });
  } catch (error) {
    listenError(error, address);
  }
  logger.log("info", "Listening", {
    address: `${server.address.hostname}:${server.address.port}`,
    max_clients: server.hub.maxClients,
  }, true);
  handleSignals(server, logger);
  await server.finished;
});
