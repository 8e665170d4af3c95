/**
 * `deno task client`: the interactive terminal chat client.
 *
 * Prints the issued id, prints each chat line as `<sender> >>> <text>`,
 * sends every line typed as a CHAT frame, understands `/join`, `/nick`,
 * `/who`, `/rooms`, and leaves with `/exit`.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import { Tag } from "../protocol/mod.ts";
import { ChatConnection } from "./chat_connection.ts";
import {
  ChatSession,
  COMMAND_HELP,
  type SessionOutput,
} from "./chat_session.ts";
import { readCaFile } from "./_ca_file.ts";
import { readLines } from "./_lines.ts";

const command = defineCommand({
  usage: "deno task client [options]",
  name: "hubbub client",
  summary:
    "Chat from the terminal: each line you type goes to everyone in your room.",
  options: {
    host: {
      type: "string",
      default: "127.0.0.1",
      valueName: "HOST",
      description: "Server address",
    },
    port: {
      type: "integer",
      default: 9000,
      min: 1,
      max: 65535,
      valueName: "PORT",
      description: "Server port",
    },
    tls: {
      type: "boolean",
      description: "Connect with TLS",
    },
    ca: {
      type: "string",
      valueName: "FILE",
      description: "With --tls: also trust the PEM certificate(s) in FILE",
    },
    token: {
      type: "string",
      valueName: "TOKEN",
      description:
        "Authenticate with TOKEN (for servers started with --token-file)",
    },
  },
  epilog: COMMAND_HELP,
});

async function connect(options: {
  host: string;
  port: number;
  tls: boolean;
  ca?: string;
}): Promise<ChatConnection> {
  const address = `${options.host}:${options.port}`;
  const caCerts = options.ca === undefined
    ? undefined
    : [await readCaFile(options.ca)];
  try {
    return await ChatConnection.connect({
      hostname: options.host,
      port: options.port,
      tls: options.tls,
      caCerts,
    });
  } catch (error) {
    const reason = error instanceof Deno.errors.ConnectionRefused
      ? "connection refused"
      : error instanceof Deno.errors.TimedOut
      ? "timed out"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new StartupError(`Cannot connect to ${address}: ${reason}`, {
      cause: error,
    });
  }
}

/** Print and send what the session asks for. */
async function perform(
  connection: ChatConnection,
  out: SessionOutput,
): Promise<void> {
  for (const line of out.print) console.log(line);
  for (const line of out.warn) console.error(line);
  for (const frame of out.send) await connection.sendRaw(frame);
}

await runCommand(command, Deno.args, async (options) => {
  const address = `${options.host}:${options.port}`;
  const connection = await connect({
    ...options,
    tls: options.tls || options.ca !== undefined,
  });
  const session = new ChatSession(address);
  if (options.token !== undefined) {
    await connection.send(Tag.AUTH, options.token);
  }

  const typing = (async () => {
    for await (const line of readLines(Deno.stdin.readable)) {
      await perform(connection, session.onLine(line));
    }
    await perform(connection, session.onEndOfInput());
  })().catch(() => {
    // A failed send means the connection is gone; the reader reports it.
  });

  let status = 1;
  try {
    for await (const frame of connection.frames()) {
      const out = session.onFrame(frame);
      await perform(connection, out).catch(() => {});
      if (out.exit !== undefined) {
        status = out.exit;
        break;
      }
    }
    if (status !== 0) console.error(`Server at ${address} went away`);
  } catch (error) {
    console.error(
      `Connection to ${address} lost: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  connection.close();
  void typing;
  return status;
});
