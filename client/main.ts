/**
 * `deno task client`: the interactive terminal chat client.
 *
 * Prints the issued id, prints each chat line as `<sender_id> >>> <text>`,
 * sends every line typed as a CHAT frame, and leaves with `/exit`.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import { MAX_BODY_SIZE, Tag } from "../protocol/mod.ts";
import { ChatConnection } from "./chat_connection.ts";
import { readLines } from "./_lines.ts";

const command = defineCommand({
  usage: "deno task client [options]",
  name: "hubbub client",
  summary:
    "Chat from the terminal: each line you type is sent to everyone in your room.",
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
  },
  epilog: `Commands:
  /exit     Leave (sends CLOSE and waits for the server's reply)
  /help     List the commands
  //text    Send a line that starts with '/'`,
});

const HELP =
  `Commands: /exit to leave, /help for this list, //text to send a line starting with '/'.`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function connectError(error: unknown, address: string): never {
  if (error instanceof Deno.errors.ConnectionRefused) {
    throw new StartupError(`Cannot connect to ${address}: connection refused`, {
      cause: error,
    });
  }
  if (error instanceof Deno.errors.TimedOut) {
    throw new StartupError(`Cannot connect to ${address}: timed out`, {
      cause: error,
    });
  }
  if (error instanceof Error) {
    throw new StartupError(`Cannot connect to ${address}: ${error.message}`, {
      cause: error,
    });
  }
  throw error;
}

/** Print server frames until the server ends the connection. */
async function printFrames(
  connection: ChatConnection,
  address: string,
  state: { leaving: boolean },
): Promise<number> {
  try {
    for await (const frame of connection.frames()) {
      switch (frame.tag) {
        case Tag.ISSUE_ID:
          console.log(
            `Connected to ${address} as client ${frame.senderId}. ${HELP}`,
          );
          break;
        case Tag.CHAT:
          console.log(`${frame.senderId} >>> ${decoder.decode(frame.body)}`);
          break;
        case Tag.ERROR:
          console.error(`Server error: ${decoder.decode(frame.body)}`);
          break;
        case Tag.CLOSE: {
          if (state.leaving) return 0;
          const reason = decoder.decode(frame.body);
          console.error(
            `Server closed the connection${reason ? `: ${reason}` : ""}`,
          );
          return 0;
        }
        default:
          break;
      }
    }
  } catch (error) {
    console.error(
      `Connection to ${address} lost: ${
        error instanceof Error ? error.message : error
      }`,
    );
    return 1;
  }
  console.error(`Server at ${address} went away`);
  return 1;
}

/** Send each typed line; returns when the user leaves or stdin ends. */
async function sendLines(
  connection: ChatConnection,
  state: { leaving: boolean },
): Promise<void> {
  for await (const line of readLines(Deno.stdin.readable)) {
    let text = line;
    if (text === "/exit" || text === "/quit") break;
    if (text === "/help") {
      console.log(HELP);
      continue;
    }
    if (text.startsWith("//")) text = text.slice(1);
    else if (text.startsWith("/")) {
      console.error(`Unknown command ${text.split(" ")[0]}. ${HELP}`);
      continue;
    }
    if (text.length === 0) continue;
    const size = encoder.encode(text).length;
    if (size > MAX_BODY_SIZE) {
      console.error(
        `Message not sent: it is ${size} bytes and the limit is ${MAX_BODY_SIZE}`,
      );
      continue;
    }
    await connection.send(Tag.CHAT, text);
  }
  state.leaving = true;
  await connection.send(Tag.CLOSE);
}

await runCommand(command, Deno.args, async (options) => {
  const address = `${options.host}:${options.port}`;
  let connection: ChatConnection;
  try {
    connection = await ChatConnection.connect({
      hostname: options.host,
      port: options.port,
    });
  } catch (error) {
    connectError(error, address);
  }
  const state = { leaving: false };
  const printing = printFrames(connection, address, state);
  sendLines(connection, state).catch(() => {
    // A failed send means the connection is gone; printFrames reports it.
  });
  const status = await printing;
  connection.close();
  return status;
});
