/**
 * `deno task client`: the interactive terminal chat client.
 *
 * Prints the issued id, prints each chat line as `<sender> >>> <text>`
 * (made inert: nothing others send can act on the terminal), sends every
 * line typed as a CHAT frame, understands `/join`, `/nick`, `/who`,
 * `/rooms`, `/history N`, and leaves with `/exit`; on joining a room it
 * shows the room's earlier messages, marked as such (after a reconnection,
 * exactly those it missed). On a terminal the line being typed
 * stays intact under what arrives. When the server goes away it reconnects
 * with backoff, back in the same room under the same nickname, unless
 * `--no-reconnect`.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import { Tag } from "../protocol/mod.ts";
import type { ChatConnection } from "./chat_connection.ts";
import { connectTcp } from "./tcp_connect.ts";
import {
  ChatSession,
  COMMAND_HELP,
  type SessionOutput,
} from "./chat_session.ts";
import { ReconnectBackoff } from "./reconnect_backoff.ts";
import { inertText } from "./terminal_text.ts";
import { readCaFile } from "./_ca_file.ts";
import {
  type AttemptContext,
  explainConnectError,
  explainEarlyEnd,
  isFinalRefusal,
  speaksTls,
} from "./_connection_problems.ts";
import { openScreen, type Screen } from "./_terminal_screen.ts";

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
      description: "Also trust the PEM certificate(s) in FILE (implies --tls)",
    },
    token: {
      type: "string",
      valueName: "TOKEN",
      description:
        "Authenticate with TOKEN (for servers started with --token-file)",
    },
    "no-reconnect": {
      type: "boolean",
      description:
        "When the server goes away, exit (1; 0 after its CLOSE) instead of reconnecting",
    },
  },
  epilog: COMMAND_HELP,
});

/** How one connection ended. */
type Ending = "left" | "closed" | "lost";

/** The client: one session over as many connections as it takes. */
class TerminalClient {
  #session: ChatSession;
  #screen: Screen | null = null;
  #context: AttemptContext;
  #connect: () => Promise<ChatConnection>;
  #token: string | undefined;
  #reconnect: boolean;
  #backoff = new ReconnectBackoff();
  #connection: ChatConnection | null = null;
  #prompt: string | null = null;
  #wakeUp: () => void = () => {};
  #interrupted: (status: number) => void = () => {};

  constructor(options: {
    context: AttemptContext;
    connect: () => Promise<ChatConnection>;
    token?: string;
    reconnect: boolean;
  }) {
    this.#context = options.context;
    this.#session = new ChatSession(options.context.address);
    this.#connect = options.connect;
    this.#token = options.token;
    this.#reconnect = options.reconnect;
  }

  /** Connect, chat until the end, and give the exit status. */
  async run(): Promise<number> {
    let connection: ChatConnection;
    try {
      connection = await this.#connect();
    } catch (error) {
      throw new StartupError(explainConnectError(error, this.#context), {
        cause: error,
      });
    }
    const screen = openScreen();
    this.#screen = screen;
    try {
      const forced = new Promise<number>((resolve) =>
        this.#interrupted = resolve
      );
      void this.#type().catch((error) => {
        screen.warn(`Cannot read the keyboard: ${error}`);
      });
      return await Promise.race([this.#connections(connection), forced]);
    } finally {
      screen.close();
    }
  }

  /** Show what the session asks for; send its frames if connected. */
  async #perform(out: SessionOutput): Promise<void> {
    const screen = this.#screen!;
    for (const line of out.print) screen.print(line);
    for (const line of out.warn) screen.warn(line);
    this.#showPrompt();
    const connection = this.#connection;
    if (connection === null) return;
    for (const frame of out.send) await connection.sendRaw(frame);
  }

  /** The prompt names the room; it is bare while there is none. */
  #showPrompt(): void {
    const room = this.#session.room;
    const prompt = room === null ? "> " : `${inertText(room)}> `;
    if (prompt === this.#prompt) return;
    this.#prompt = prompt;
    this.#screen!.setPrompt(prompt);
  }

  async #type(): Promise<void> {
    const session = this.#session;
    for await (const event of this.#screen!.input()) {
      if (event.kind === "interrupt" && session.leaving) {
        // A second Ctrl-C: do not wait for the server's answer.
        this.#interrupted(130);
        return;
      }
      const out = event.kind === "line"
        ? session.onLine(event.text)
        : session.onEndOfInput();
      if (this.#connection === null && out.send.length > 0) {
        if (!session.leaving) {
          out.warn.push("Not connected: not sent (reconnecting)");
        }
        out.send = [];
      }
      await this.#perform(out).catch(() => {
        // A failed send means the connection is gone; the reader says so.
      });
      if (
        event.kind === "line" && out.send.length === 0 &&
        out.warn.length > 0 && !session.leaving
      ) {
        // Refused: give it back to edit rather than lose it.
        this.#screen!.restoreInput(event.text);
      }
      if (session.leaving) this.#wakeUp();
    }
  }

  /** One connection after another, until the user leaves or we give up. */
  async #connections(first: ChatConnection): Promise<number> {
    let connection = first;
    for (;;) {
      const greetings = this.#session.greetings;
      const { ending, error } = await this.#serve(connection);
      const session = this.#session;
      if (ending === "left") return 0;
      const screen = this.#screen!;
      const address = this.#context.address;
      let line: string | null = null;
      if (session.greetings === greetings) {
        // Turned away before being greeted.
        line = error !== undefined && session.refusal === null
          ? explainConnectError(error, this.#context)
          : explainEarlyEnd(
            {
              refusal: session.refusal,
              firstByte: connection.firstByte,
              greetedBefore: greetings > 0,
            },
            this.#context,
          );
        if (greetings === 0) {
          if (
            !this.#context.tls && session.refusal === null &&
            connection.firstByte === null &&
            await speaksTls(this.#context.host, this.#context.port)
          ) {
            line = explainEarlyEnd(
              { refusal: null, firstByte: null, tlsAnswered: true },
              this.#context,
            );
          }
          throw new StartupError(line, { cause: error });
        }
        if (session.refusal !== null && isFinalRefusal(session.refusal)) {
          screen.warn(line);
          return 1;
        }
      } else if (ending === "lost") {
        line = error === undefined
          ? `Server at ${address} went away`
          : `Connection to ${address} lost: ${
            inertText(error instanceof Error ? error.message : String(error))
          }`;
      }
      if (session.leaving) return 0;
      if (!this.#reconnect) {
        if (line !== null) screen.warn(line);
        return ending === "closed" ? 0 : 1;
      }
      const next = await this.#reconnectAfter(line);
      if (next === null) return 0;
      connection = next;
    }
  }

  /** Wait, retry, wait longer: until connected or the user leaves. */
  async #reconnectAfter(
    reason: string | null,
  ): Promise<ChatConnection | null> {
    let line = reason;
    for (;;) {
      const delayMs = this.#backoff.nextDelayMs(Date.now());
      const when = `in ${
        (delayMs / 1000).toFixed(1)
      } s (attempt ${this.#backoff.attempts})`;
      this.#screen!.warn(
        line === null
          ? `Reconnecting to ${this.#context.address} ${when}`
          : `${line}; reconnecting ${when}`,
      );
      if (await this.#sleep(delayMs)) return null;
      try {
        const connection = await this.#connect();
        if (!this.#session.leaving) return connection;
        // The user left while it was connecting.
        connection.close();
        return null;
      } catch (error) {
        line = explainConnectError(error, this.#context);
      }
    }
  }

  /** Sleep; `true` when the user left meanwhile. */
  #sleep(ms: number): Promise<boolean> {
    if (this.#session.leaving) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** Chat over one connection until it ends. */
  async #serve(
    connection: ChatConnection,
  ): Promise<{ ending: Ending; error?: unknown }> {
    const session = this.#session;
    this.#connection = connection;
    let ending: Ending = "lost";
    let error: unknown;
    try {
      if (this.#token !== undefined) {
        await connection.send(Tag.AUTH, this.#token);
      }
      await this.#perform(session.onConnect());
      for await (const frame of connection.frames()) {
        const out = session.onFrame(frame);
        if (frame.tag === Tag.ISSUE_ID) this.#backoff.connected(Date.now());
        await this.#perform(out).catch(() => {});
        if (out.exit !== undefined) {
          ending = out.closedByServer ? "closed" : "left";
          break;
        }
      }
    } catch (caught) {
      error = caught;
    }
    this.#connection = null;
    connection.close();
    session.onDisconnect();
    this.#showPrompt();
    return { ending, error };
  }
}

await runCommand(command, Deno.args, async (options) => {
  const tls = options.tls || options.ca !== undefined;
  const caCerts = options.ca === undefined
    ? undefined
    : [await readCaFile(options.ca)];
  const client = new TerminalClient({
    context: {
      address: `${options.host}:${options.port}`,
      host: options.host,
      port: options.port,
      tls,
    },
    connect: () =>
      connectTcp({
        hostname: options.host,
        port: options.port,
        tls,
        caCerts,
      }),
    token: options.token,
    reconnect: !options["no-reconnect"],
  });
  return await client.run();
});
