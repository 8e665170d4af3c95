import {
  decodeJsonBody,
  encodeFrame,
  type Frame,
  LOBBY,
  MAX_BODY_SIZE,
  type MemberEntry,
  type MoreEntry,
  nicknameProblem,
  type Presence,
  type RoomEntry,
  roomNameProblem,
  Tag,
} from "../protocol/mod.ts";
import { inertText } from "./terminal_text.ts";
import {
  HISTORY_ON_JOIN,
  historyRequestFrame,
  HistoryTracker,
} from "./history_tracker.ts";
import { historyEndLine, historyLine } from "./history_view.ts";

/** What the session wants done after an input line or a frame. */
export interface SessionOutput {
  /** Lines for standard output. */
  print: string[];
  /** Lines for standard error (refusals, errors). */
  warn: string[];
  /** Frames to send, in order. */
  send: Uint8Array[];
  /** This connection is over (CLOSE arrived); 0 when it went well. */
  exit?: number;
  /** With `exit`: the server closed it, not as the answer to our CLOSE. */
  closedByServer?: boolean;
}

/** The commands the terminal client understands, for `/help`. */
export const COMMAND_HELP: string = [
  "Commands:",
  "  /join ROOM   Move to ROOM (created when missing)",
  "  /nick NAME   Set your nickname",
  "  /who         List who is in your room",
  "  /rooms       List the rooms and their sizes",
  `  /history N   Show the last N earlier messages of your room (default ${HISTORY_ON_JOIN})`,
  "  /exit        Leave (also /quit, or end of input)",
  "  /help        This list",
  "  //text       Send a line that starts with '/'",
].join("\n");

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function output(): SessionOutput {
  return { print: [], warn: [], send: [] };
}

/**
 * The terminal chat client's logic, free of I/O: it turns typed lines into
 * frames to send and received frames into lines to print, and remembers
 * what it has learnt (its id, its room, who is called what).
 *
 * Chat lines print as `<sender> >>> <text>`, where the sender is the
 * nickname when one is known and the id otherwise (the original client's
 * format). The session asks the server for the member list whenever it
 * enters a room, so it can show nicknames from the start.
 *
 * One session outlives its connections: on each (re)connection
 * {@linkcode ChatSession.onConnect} asks to be back under the nickname and
 * in the room the server last confirmed. That first JOIN also tells the
 * server this is a hubbub client, not the original one, so that it sends
 * presence and lists.
 *
 * @example Usage
 * ```ts
 * import { ChatSession } from "./chat_session.ts";
 * const session = new ChatSession("127.0.0.1:9000");
 * const out = session.onLine("hello");
 * console.log(out.send.length); // 1: a CHAT frame
 * ```
 */
export class ChatSession {
  /** Our id, 0 until ISSUE_ID arrives. */
  id = 0;
  /** The room we are in, as the server last confirmed. */
  room: string | null = null;
  /**
   * Why the server refused this connection before issuing an id (an ERROR
   * before ISSUE_ID, such as `authentication failed`), else `null`.
   */
  refusal: string | null = null;
  /** How many times the server has issued us an id. */
  greetings = 0;
  #address: string;
  /** The room to be in after a reconnection. */
  #wantedRoom: string = LOBBY;
  /** Our nickname as the server last confirmed it. */
  #nick: string | null = null;
  /**
   * Until the room asked for on connecting is confirmed, confirmations of
   * other rooms (the lobby some servers announce on connect) are not shown.
   */
  #awaitingHello = false;
  /** JOINs the user typed that the server has not answered yet. */
  #joinRequests = 0;
  #names = new Map<number, string>();
  #leaving = false;
  /** WHO/ROOMS requests in flight: `true` when the user asked (print it). */
  #pendingLists: { tag: number; shown: boolean }[] = [];
  #listEntries: string[] = [];
  #history = new HistoryTracker();

  /** @param address The server's address, for messages. */
  constructor(address: string) {
    this.#address = address;
  }

  /**
   * How a client is shown: its nickname when known, else its id.
   *
   * @param id The client's id.
   * @returns The display name.
   */
  nameOf(id: number): string {
    const name = this.#names.get(id);
    return inertText(name ?? String(id));
  }

  /** Whether the user has asked to leave (`/exit`, end of input). */
  get leaving(): boolean {
    return this.#leaving;
  }

  /**
   * A connection is open: ask to be back under our nickname (if any) and in
   * our room (the lobby at first).
   *
   * @returns The NICK and JOIN frames to send first.
   */
  onConnect(): SessionOutput {
    const out = output();
    this.refusal = null;
    this.#awaitingHello = true;
    if (this.#nick !== null) {
      out.send.push(encodeFrame(Tag.NICK, 0, this.#nick));
    }
    out.send.push(encodeFrame(Tag.JOIN, 0, this.#wantedRoom));
    return out;
  }

  /**
   * The connection is gone: forget what belonged to it (our id, others'
   * ids and names, requests in flight), keep our room and nickname.
   */
  onDisconnect(): void {
    this.id = 0;
    this.room = null;
    this.#names.clear();
    this.#pendingLists = [];
    this.#listEntries = [];
    this.#joinRequests = 0;
    this.#history.onDisconnect();
  }

  /**
   * Handle one line the user typed.
   *
   * @param line The line, without its newline.
   * @returns What to print and send.
   */
  onLine(line: string): SessionOutput {
    const out = output();
    if (line.startsWith("/") && !line.startsWith("//")) {
      this.#command(line, out);
      return out;
    }
    const text = line.startsWith("//") ? line.slice(1) : line;
    if (text.length === 0) return out;
    const size = encoder.encode(text).length;
    if (size > MAX_BODY_SIZE) {
      out.warn.push(
        `Message not sent: it is ${size} bytes and the limit is ${MAX_BODY_SIZE}`,
      );
      return out;
    }
    out.send.push(encodeFrame(Tag.CHAT, 0, text));
    return out;
  }

  /**
   * The user's input has ended: leave as `/exit` does.
   *
   * @returns The CLOSE frame to send.
   */
  onEndOfInput(): SessionOutput {
    const out = output();
    this.#leave(out);
    return out;
  }

  #leave(out: SessionOutput): void {
    if (this.#leaving) return;
    this.#leaving = true;
    out.send.push(encodeFrame(Tag.CLOSE, 0));
  }

  #request(out: SessionOutput, tag: number, shown: boolean): void {
    this.#pendingLists.push({ tag, shown });
    out.send.push(encodeFrame(tag, 0));
  }

  #command(line: string, out: SessionOutput): void {
    const space = line.indexOf(" ");
    const name = space < 0 ? line : line.slice(0, space);
    const argument = space < 0 ? "" : line.slice(space + 1).trim();
    switch (name) {
      case "/exit":
      case "/quit":
        this.#leave(out);
        break;
      case "/help":
        out.print.push(COMMAND_HELP);
        break;
      case "/join": {
        const problem = roomNameProblem(argument);
        if (problem !== null) out.warn.push(`Cannot join: ${problem}`);
        else {
          this.#joinRequests++;
          out.send.push(encodeFrame(Tag.JOIN, 0, argument));
        }
        break;
      }
      case "/nick": {
        const problem = nicknameProblem(argument);
        if (problem !== null) out.warn.push(`Cannot set nickname: ${problem}`);
        else out.send.push(encodeFrame(Tag.NICK, 0, argument));
        break;
      }
      case "/who":
        this.#request(out, Tag.WHO, true);
        break;
      case "/rooms":
        this.#request(out, Tag.ROOMS, true);
        break;
      case "/history":
        this.#askHistory(argument, out);
        break;
      default:
        out.warn.push(`Unknown command ${name}; /help lists the commands`);
    }
  }

  /**
   * Handle one frame from the server.
   *
   * @param frame The frame.
   * @returns What to print and send (PONG for PING, WHO after a join).
   */
  onFrame(frame: Frame): SessionOutput {
    const out = output();
    switch (frame.tag) {
      case Tag.ISSUE_ID:
        this.id = frame.senderId;
        out.print.push(
          this.greetings === 0
            ? `Connected to ${this.#address} as client ${frame.senderId}. Type /help for commands.`
            : `Reconnected to ${this.#address} as client ${frame.senderId}`,
        );
        this.greetings++;
        break;
      case Tag.CHAT:
        this.#history.onChat();
        out.print.push(
          `${this.nameOf(frame.senderId)} >>> ${
            inertText(decoder.decode(frame.body))
          }`,
        );
        break;
      case Tag.ERROR:
        if (this.id === 0) {
          // A refusal of the connection itself; the caller explains it.
          this.refusal = inertText(decoder.decode(frame.body));
          break;
        }
        if (
          frame.senderId === Tag.HISTORY &&
          !this.#history.onRefusal(decoder.decode(frame.body))
        ) break; // `history is off` is said once
        if (frame.senderId === Tag.JOIN) {
          this.#awaitingHello = false;
          this.#joinRequests = Math.max(0, this.#joinRequests - 1);
        }
        out.warn.push(
          `${refusalPrefix(frame.senderId)}${
            inertText(decoder.decode(frame.body))
          }`,
        );
        break;
      case Tag.CLOSE: {
        const reason = inertText(decoder.decode(frame.body));
        if (!this.#leaving) {
          out.warn.push(
            `Server closed the connection${reason ? `: ${reason}` : ""}`,
          );
        }
        out.exit = 0;
        out.closedByServer = !this.#leaving;
        break;
      }
      case Tag.PING:
        out.send.push(encodeFrame(Tag.PONG, 0, frame.body));
        break;
      case Tag.PRESENCE:
        this.#onPresence(frame, out);
        break;
      case Tag.WHO:
      case Tag.ROOMS:
        this.#onListEntry(frame, out);
        break;
      case Tag.HISTORY:
      case Tag.HISTORY_TEXT:
      case Tag.HISTORY_END:
        this.#onHistoryFrame(frame, out);
        break;
      default:
        // Tags this client does not know are ignored, as the protocol asks.
        break;
    }
    return out;
  }

  #askHistory(argument: string, out: SessionOutput): void {
    const count = argument === "" ? HISTORY_ON_JOIN : Number(argument);
    if (!Number.isSafeInteger(count) || count < 1) {
      out.warn.push("Usage: /history N, N a whole number from 1");
    } else if (this.#history.off) {
      out.warn.push("Server: history is off");
    } else if (this.room === null) {
      out.warn.push("Not in a room yet");
    } else {
      out.send.push(historyRequestFrame(this.#history.manual(count)));
    }
  }

  #onHistoryFrame(frame: Frame, out: SessionOutput): void {
    if (frame.tag === Tag.HISTORY) this.#history.onEntry(frame);
    else if (frame.tag === Tag.HISTORY_TEXT) {
      const message = this.#history.onText(frame);
      if (message !== null) out.print.push(historyLine(message));
    } else {
      const end = this.#history.onEnd(frame);
      const line = end === null ? null : historyEndLine(end);
      if (line !== null) out.print.push(line);
    }
  }

  #onPresence(frame: Frame, out: SessionOutput): void {
    let presence: Presence | null;
    try {
      presence = decodeJsonBody<Presence>(frame.body);
    } catch {
      return;
    }
    // Malformed presence is ignored like an unknown frame.
    if (presence === null || typeof presence.room !== "string") return;
    const before = this.nameOf(presence.id);
    if (typeof presence.nick === "string") {
      this.#names.set(presence.id, presence.nick);
    } else this.#names.delete(presence.id);
    const self = presence.id === this.id;
    const room = inertText(presence.room);
    switch (presence.event) {
      case "join":
        if (self) {
          this.#onOwnJoin(presence.room, room, presence.last_id, out);
        } else {
          out.print.push(
            `* ${this.nameOf(presence.id)} joined ${room}`,
          );
        }
        break;
      case "leave":
        out.print.push(`* ${before} left ${room}`);
        break;
      case "nick":
        if (self) this.#nick = presence.nick;
        out.print.push(
          self
            ? `* You are now known as ${this.nameOf(presence.id)}`
            : `* ${before} is now known as ${this.nameOf(presence.id)}`,
        );
        break;
    }
  }

  /** Our own join confirmed: say so once per room change and learn who is there. */
  #onOwnJoin(
    name: string,
    shown: string,
    lastId: unknown,
    out: SessionOutput,
  ): void {
    const changed = this.room !== name;
    this.room = name;
    if (this.#awaitingHello) {
      // A server that announces the lobby on connect: wait for our room.
      if (name !== this.#wantedRoom) return;
      this.#awaitingHello = false;
    } else if (this.#joinRequests > 0) {
      this.#joinRequests--;
    } else if (!changed) {
      // The repeat confirmation of our JOIN of the lobby on connect.
      this.#history.onOwnJoin(name, lastId);
      return;
    }
    this.#wantedRoom = name;
    out.print.push(`* You are in ${shown}`);
    this.#request(out, Tag.WHO, false);
    const ask = this.#history.onOwnJoin(name, lastId);
    if (ask !== null) out.send.push(historyRequestFrame(ask));
  }

  #onListEntry(frame: Frame, out: SessionOutput): void {
    const pending = this.#pendingLists[0];
    let entry: RoomEntry | MemberEntry | MoreEntry | null;
    try {
      entry = decodeJsonBody<RoomEntry | MemberEntry | MoreEntry>(frame.body);
    } catch {
      return;
    }
    if (entry === null) {
      // The empty frame ends the list.
      if (pending?.tag === frame.tag) {
        this.#pendingLists.shift();
        if (pending.shown) {
          const title = frame.tag === Tag.WHO
            ? `In ${this.room === null ? "this room" : inertText(this.room)}`
            : "Rooms";
          out.print.push(
            `* ${title}: ${this.#listEntries.join(", ") || "nobody"}`,
          );
        }
      }
      this.#listEntries = [];
      return;
    }
    if (typeof entry !== "object") return; // malformed: ignored
    if ("more" in entry) {
      this.#listEntries.push(`and ${Number(entry.more)} more`);
    } else if ("members" in entry) {
      this.#listEntries.push(
        `${inertText(String(entry.room))} (${Number(entry.members)})`,
      );
    } else {
      if (typeof entry.nick === "string") this.#names.set(entry.id, entry.nick);
      const id = Number(entry.id);
      this.#listEntries.push(
        entry.nick === null ? String(id) : `${this.nameOf(id)} (${id})`,
      );
    }
  }
}

function refusalPrefix(tag: number): string {
  switch (tag) {
    case Tag.JOIN:
      return "Cannot join: ";
    case Tag.NICK:
      return "Cannot set nickname: ";
    case Tag.CHAT:
    case Tag.HISTORY:
      return "Server: ";
    default:
      return "Server error: ";
  }
}
