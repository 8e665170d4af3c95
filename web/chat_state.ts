/**
 * What the chat page knows and how it reacts, free of the DOM and of
 * sockets: received frames become log entries and member-list changes,
 * typed text and commands become frames or a refusal with its reason. The
 * wire format comes from `protocol/`, the safe display of others' text from
 * the terminal client's `inertText`.
 *
 * @module
 */

import { MAX_BODY_SIZE, Tag } from "../protocol/constants.ts";
import { encodeFrame, type Frame } from "../protocol/frame.ts";
import {
  decodeJsonBody,
  type MemberEntry,
  type MoreEntry,
  type Presence,
  type RoomEntry,
} from "../protocol/messages.ts";
import { inertText } from "../client/terminal_text.ts";
import {
  historyEndNotice,
  historyRequestFrame,
  HistoryTracker,
} from "../client/history_tracker.ts";

/** The room a page starts in (the protocol's lobby). */
export const FIRST_ROOM = "lobby";

/** One line of the conversation log. Every text is already inert. */
export interface LogEntry {
  /** `chat` (a message), `notice` (joins, leaves, renames, connection) or `problem` (a refusal or error). */
  kind: "chat" | "notice" | "problem";
  /** When it arrived. */
  time: Date;
  /** The text to show. */
  text: string;
  /** For `chat`: the sender's display name. */
  sender?: string;
  /** For `chat`: whether we sent it. */
  own?: boolean;
  /** For `chat`: a stored message from before (history); `time` is the server's. */
  earlier?: boolean;
}

/** What a frame asks of the page. */
export interface StateUpdate {
  /** Lines to add to the log. */
  log: LogEntry[];
  /** Frames to send, in order. */
  send: Uint8Array[];
  /** Set when the server ended the connection, with its reason (maybe empty). */
  closed?: string;
}

/** The result of something the user asked for: a frame to send, or why not. */
export type Request = { frame: Uint8Array } | { problem: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function refusalPrefix(tag: number): string {
  switch (tag) {
    case Tag.JOIN:
      return "Cannot join: ";
    case Tag.NICK:
      return "Cannot set nickname: ";
    case Tag.CHAT:
      return "Not delivered: ";
    case Tag.HISTORY:
      return "History: ";
    default:
      return "Server error: ";
  }
}

/**
 * The page's chat state across reconnections: its id, room and nickname as
 * the server confirmed them, and the members of the room.
 *
 * @example Usage
 * ```ts
 * import { ChatState } from "./chat_state.ts";
 * const state = new ChatState();
 * console.log(state.onConnect().length); // 1: JOIN lobby
 * console.log("problem" in state.composeChat("x".repeat(489))); // true
 * ```
 */
export class ChatState {
  /** Our id, 0 until ISSUE_ID. */
  id = 0;
  /** The room the server last confirmed, `null` while not in one. */
  room: string | null = null;
  /** Our nickname as the server last confirmed it. */
  nick: string | null = null;
  /** The room's members by id, with their nicknames. */
  readonly members = new Map<number, string | null>();
  /** Members a cut-short WHO list left out. */
  moreMembers = 0;
  /** The rooms and their sizes, as the last ROOMS list gave them. */
  rooms: RoomEntry[] = [];
  /** Rooms a cut-short ROOMS list left out. */
  moreRooms = 0;
  /**
   * Rises whenever the id, room, nickname, member list or room list
   * changes, so the page redraws those only then (not on every message).
   */
  revision = 0;
  /** The room to be in (after a reconnection too). */
  #wantedRoom = FIRST_ROOM;
  /** Until the wanted room is confirmed, other confirmations are not announced. */
  #awaitingRoom = false;
  #whoPending = 0;
  #whoEntries = new Map<number, string | null>();
  #whoMore = 0;
  #roomsPending = 0;
  #roomEntries: RoomEntry[] = [];
  #roomsMore = 0;
  #history = new HistoryTracker();

  /**
   * How a client is shown: its nickname when known, else `#id`.
   *
   * @param id The client's id.
   * @returns The inert display name.
   */
  nameOf(id: number): string {
    const nick = this.members.get(id);
    return typeof nick === "string" ? inertText(nick) : `#${id}`;
  }

  /**
   * A connection opened: ask to be back under our nickname and in our room.
   * The JOIN also marks this client as a hubbub client, so the server sends
   * presence and lists.
   *
   * @returns The frames to send first.
   */
  onConnect(): Uint8Array[] {
    this.#awaitingRoom = true;
    const frames: Uint8Array[] = [];
    if (this.nick !== null) frames.push(encodeFrame(Tag.NICK, 0, this.nick));
    frames.push(encodeFrame(Tag.JOIN, 0, this.#wantedRoom));
    return frames;
  }

  /** The connection is gone: forget what belonged to it, keep room and nickname. */
  onDisconnect(): void {
    this.revision++;
    this.id = 0;
    this.room = null;
    this.members.clear();
    this.moreMembers = 0;
    this.rooms = [];
    this.moreRooms = 0;
    this.#whoPending = 0;
    this.#whoEntries.clear();
    this.#whoMore = 0;
    this.#roomsPending = 0;
    this.#roomEntries = [];
    this.#roomsMore = 0;
    this.#history.onDisconnect();
  }

  /**
   * Ask for the list of rooms (the answer updates {@linkcode rooms}).
   *
   * @returns The ROOMS frame.
   */
  requestRooms(): Uint8Array {
    this.#roomsPending++;
    return encodeFrame(Tag.ROOMS, 0);
  }

  /**
   * A message typed in the box.
   *
   * @param text The text.
   * @returns The CHAT frame, or why it is not sent (empty, or over the limit).
   */
  composeChat(text: string): Request {
    if (text.length === 0) return { problem: "Type a message first." };
    const size = encoder.encode(text).length;
    if (size > MAX_BODY_SIZE) {
      return {
        problem:
          `Not sent: the message is ${size} bytes of UTF-8 and the limit is ${MAX_BODY_SIZE}.`,
      };
    }
    return { frame: encodeFrame(Tag.CHAT, 0, text) };
  }

  /**
   * Ask to move to another room (the server checks the name and answers
   * with our join, or an error).
   *
   * @param room The room's name.
   * @returns The JOIN frame, or why not.
   */
  requestJoin(room: string): Request {
    const name = room.trim();
    if (name.length === 0) return { problem: "Cannot join: type a room name." };
    if (encoder.encode(name).length > MAX_BODY_SIZE) {
      return { problem: "Cannot join: the room name is too long." };
    }
    return { frame: encodeFrame(Tag.JOIN, 0, name) };
  }

  /**
   * Ask for a nickname (the server checks it and confirms or refuses).
   *
   * @param nick The nickname.
   * @returns The NICK frame, or why not.
   */
  requestNick(nick: string): Request {
    const name = nick.trim();
    if (name.length === 0) {
      return { problem: "Cannot set nickname: type a nickname." };
    }
    if (encoder.encode(name).length > MAX_BODY_SIZE) {
      return { problem: "Cannot set nickname: it is too long." };
    }
    return { frame: encodeFrame(Tag.NICK, 0, name) };
  }

  /**
   * Handle one frame from the server.
   *
   * @param frame The frame.
   * @param time When it arrived.
   * @returns Lines to log and frames to send.
   */
  onFrame(frame: Frame, time: Date): StateUpdate {
    const update: StateUpdate = { log: [], send: [] };
    const log = (kind: LogEntry["kind"], text: string) =>
      update.log.push({ kind, time, text });
    switch (frame.tag) {
      case Tag.ISSUE_ID:
        this.id = frame.senderId;
        this.revision++;
        break;
      case Tag.CHAT:
        this.#history.onChat();
        update.log.push({
          kind: "chat",
          time,
          sender: this.nameOf(frame.senderId),
          own: frame.senderId === this.id,
          text: inertText(decoder.decode(frame.body)),
        });
        break;
      case Tag.ERROR: {
        const reason = inertText(decoder.decode(frame.body));
        if (this.id === 0) log("problem", `Refused: ${reason}`);
        else if (
          frame.senderId === Tag.HISTORY &&
          !this.#history.onRefusal(decoder.decode(frame.body))
        ) break; // `history is off` is said once
        else {
          if (frame.senderId === Tag.JOIN) this.#awaitingRoom = false;
          log("problem", `${refusalPrefix(frame.senderId)}${reason}`);
        }
        break;
      }
      case Tag.CLOSE:
        update.closed = inertText(decoder.decode(frame.body));
        break;
      case Tag.PING:
        update.send.push(encodeFrame(Tag.PONG, 0, frame.body));
        break;
      case Tag.PRESENCE:
        this.#onPresence(frame, update, log);
        break;
      case Tag.WHO:
        this.#onWhoEntry(frame);
        break;
      case Tag.ROOMS:
        this.#onRoomEntry(frame);
        break;
      case Tag.HISTORY:
        this.#history.onEntry(frame);
        break;
      case Tag.HISTORY_TEXT:
        this.#onHistoryText(frame, update);
        break;
      case Tag.HISTORY_END: {
        const end = this.#history.onEnd(frame);
        const notice = end === null
          ? null
          : historyEndNotice(end, "more available");
        if (notice !== null) log("notice", `Earlier: ${notice}`);
        break;
      }
      default:
        // Tags this page does not know are ignored, as the protocol asks.
        break;
    }
    return update;
  }

  #onHistoryText(frame: Frame, update: StateUpdate): void {
    const message = this.#history.onText(frame);
    if (message === null) return;
    const { entry, body } = message;
    update.log.push({
      kind: "chat",
      time: new Date(entry.time),
      sender: entry.nick === null ? `#${entry.sender}` : inertText(entry.nick),
      text: inertText(decoder.decode(body)),
      earlier: true,
    });
  }

  #onPresence(
    frame: Frame,
    update: StateUpdate,
    log: (kind: LogEntry["kind"], text: string) => void,
  ): void {
    let presence: Presence | null;
    try {
      presence = decodeJsonBody<Presence>(frame.body);
    } catch {
      return; // malformed presence is ignored like an unknown frame
    }
    if (presence === null || typeof presence.room !== "string") return;
    this.revision++;
    const id = Number(presence.id);
    const nick = typeof presence.nick === "string" ? presence.nick : null;
    const before = this.nameOf(id);
    const self = id === this.id;
    switch (presence.event) {
      case "join":
        if (self) {
          this.nick = nick;
          this.#onOwnJoin(presence.room, presence.last_id, update, log);
        } else {
          this.members.set(id, nick);
          log("notice", `${this.nameOf(id)} joined`);
        }
        break;
      case "leave":
        this.members.delete(id);
        log("notice", `${before} left`);
        break;
      case "nick":
        this.members.set(id, nick);
        if (self) {
          this.nick = nick;
          log("notice", `You are now known as ${this.nameOf(id)}`);
        } else log("notice", `${before} is now known as ${this.nameOf(id)}`);
        break;
    }
  }

  #onOwnJoin(
    room: string,
    lastId: unknown,
    update: StateUpdate,
    log: (kind: LogEntry["kind"], text: string) => void,
  ): void {
    const changed = this.room !== room;
    this.room = room;
    this.members.clear();
    this.moreMembers = 0;
    this.members.set(this.id, this.nick);
    this.#whoPending++;
    update.send.push(encodeFrame(Tag.WHO, 0), this.requestRooms());
    let announce = true;
    if (this.#awaitingRoom) {
      // A server may confirm the lobby on connect before our room.
      if (room !== this.#wantedRoom) return;
      this.#awaitingRoom = false;
    } else if (!changed) announce = false;
    // The tracker tells a repeat confirmation from a new join itself.
    const ask = this.#history.onOwnJoin(room, lastId);
    if (ask !== null) update.send.push(historyRequestFrame(ask));
    if (!announce) return;
    this.#wantedRoom = room;
    log("notice", `You are in ${inertText(room)}`);
  }

  #onRoomEntry(frame: Frame): void {
    if (this.#roomsPending === 0) return;
    let entry: RoomEntry | MoreEntry | null;
    try {
      entry = decodeJsonBody<RoomEntry | MoreEntry>(frame.body);
    } catch {
      return;
    }
    if (entry === null) {
      // The empty frame ends the list; only the last one asked for is kept.
      this.#roomsPending--;
      if (this.#roomsPending === 0) {
        this.rooms = this.#roomEntries;
        this.revision++;
        this.moreRooms = this.#roomsMore;
      }
      this.#roomEntries = [];
      this.#roomsMore = 0;
      return;
    }
    if (typeof entry !== "object") return;
    if ("more" in entry) this.#roomsMore = Number(entry.more);
    else if (typeof entry.room === "string") {
      this.#roomEntries.push({
        room: entry.room,
        members: Number(entry.members),
      });
    }
  }

  #onWhoEntry(frame: Frame): void {
    if (this.#whoPending === 0) return;
    let entry: MemberEntry | MoreEntry | null;
    try {
      entry = decodeJsonBody<MemberEntry | MoreEntry>(frame.body);
    } catch {
      return;
    }
    if (entry === null) {
      // The empty frame ends the list: it is the room as of our request,
      // and presence after it comes after it.
      this.#whoPending--;
      if (this.#whoPending > 0) {
        this.#whoEntries.clear();
        this.#whoMore = 0;
        return;
      }
      this.revision++;
      this.members.clear();
      for (const [id, nick] of this.#whoEntries) this.members.set(id, nick);
      this.members.set(this.id, this.nick);
      this.moreMembers = this.#whoMore;
      this.#whoEntries.clear();
      this.#whoMore = 0;
      return;
    }
    if (typeof entry !== "object") return;
    if ("more" in entry) this.#whoMore = Number(entry.more);
    else {
      this.#whoEntries.set(
        Number(entry.id),
        typeof entry.nick === "string" ? entry.nick : null,
      );
    }
  }
}
