/**
 * The chat page's DOM: it fills the elements of `web/index.html` from the
 * chat state. Every text goes in through `textContent`, never as markup, so
 * whatever others send shows as the characters it is.
 *
 * @module
 */

import type { LogEntry } from "./chat_state.ts";
import { dom, type DomElement, type DomInput, type DomTime } from "./_dom.ts";

/** The connection's state as the page shows it. */
export type ConnectionState = "connecting" | "connected" | "reconnecting";

/** Entries kept in the log; older ones are removed. */
const MAX_LOG_ENTRIES = 500;

const clock = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
});

/** Earlier messages (history) may be from another day: their date shows too. */
const dateClock = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

function element<T extends DomElement = DomElement>(id: string): T {
  const found = dom.getElementById(id);
  if (found === null) throw new Error(`The page has no #${id}`);
  return found as T;
}

function span(className: string, text: string): DomElement {
  const node = dom.createElement("span");
  node.className = className;
  node.textContent = text;
  return node;
}

/**
 * The page's elements and how to update them.
 *
 * @example Usage
 * ```ts no-eval
 * import { PageView } from "./page_view.ts";
 * const view = new PageView();
 * view.setStatus("connecting", "Connecting…");
 * ```
 */
export class PageView {
  /** The message box. */
  readonly input: DomInput = element("message");
  /** The form holding the message box. */
  readonly composer: DomElement = element("composer");
  /** The room switching form and its field. */
  readonly roomForm: DomElement = element("room-form");
  /** The room name field. */
  readonly roomInput: DomInput = element("room-input");
  /** The nickname form. */
  readonly nickForm: DomElement = element("nick-form");
  /** The nickname field. */
  readonly nickInput: DomInput = element("nick-input");
  /** The button that asks for the room list again. */
  readonly roomsRefresh: DomElement = element("rooms-refresh");
  #rooms: DomElement = element("rooms");
  #log: DomElement = element("log");
  #members: DomElement = element("members");
  #memberCount: DomElement = element("member-count");
  #room: DomElement = element("room-name");
  #status: DomElement = element("status");
  #problem: DomElement = element("problem");
  #counter: DomElement = element("byte-count");

  /**
   * Show the connection's state.
   *
   * @param state The state (also set as `data-state`, for styles and tests).
   * @param text What to say.
   */
  setStatus(state: ConnectionState, text: string): void {
    // Called on every frame: leave the status (read out by screen readers) be
    // when nothing changed.
    if (
      this.#status.dataset.state === state && this.#status.textContent === text
    ) return;
    this.#status.dataset.state = state;
    this.#status.textContent = text;
    dom.body.dataset.connection = state;
  }

  /**
   * Show the room's name.
   *
   * @param room The inert name, or `null` while not in a room.
   */
  setRoom(room: string | null): void {
    this.#room.textContent = room ?? "…";
    dom.title = room === null ? "hubbub" : `${room} · hubbub`;
  }

  /**
   * Show the member list, sorted by name.
   *
   * @param members Display names by id (inert), ours marked.
   * @param ownId Our id.
   * @param more Members left out of a cut-short list.
   */
  setMembers(
    members: ReadonlyMap<number, string>,
    ownId: number,
    more: number,
  ): void {
    const items = [...members].sort((a, b) => a[1].localeCompare(b[1]));
    const nodes = items.map(([id, name]) => {
      const item = dom.createElement("li");
      item.dataset.id = String(id);
      item.append(span("member-name", name));
      if (id === ownId) item.append(span("member-you", "you"));
      return item;
    });
    if (more > 0) {
      const item = dom.createElement("li");
      item.append(span("member-more", `and ${more} more`));
      nodes.push(item);
    }
    this.#members.replaceChildren(...nodes);
    this.#memberCount.textContent = String(members.size + more);
  }

  /**
   * Show the room list: a button per room, which `choose` is called with.
   *
   * @param rooms Each room's name as sent (`name`), shown inert (`shown`),
   * and its size.
   * @param current The room we are in, as sent.
   * @param more Rooms left out of a cut-short list.
   * @param choose Called with a room's name when its button is pressed.
   */
  setRooms(
    rooms: readonly { name: string; shown: string; members: number }[],
    current: string | null,
    more: number,
    choose: (room: string) => void,
  ): void {
    const nodes = rooms.map(({ name, shown, members }) => {
      const item = dom.createElement("li");
      const button = dom.createElement("button");
      button.className = name === current ? "room current" : "room";
      button.append(span("room-label", shown), span("count", String(members)));
      button.addEventListener("click", () => choose(name));
      item.append(button);
      return item;
    });
    if (more > 0) {
      const item = dom.createElement("li");
      item.append(span("member-more", `and ${more} more`));
      nodes.push(item);
    }
    this.#rooms.replaceChildren(...nodes);
  }

  /**
   * Add lines to the conversation, keeping the view at the bottom when the
   * reader was there.
   *
   * @param entries The lines.
   */
  appendLog(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const log = this.#log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    for (const entry of entries) log.append(this.#entryNode(entry));
    while (log.childElementCount > MAX_LOG_ENTRIES) {
      log.firstElementChild?.remove();
    }
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  /**
   * Show why something was not done, or clear it.
   *
   * @param text The reason, or `""` to clear.
   */
  setProblem(text: string): void {
    this.#problem.textContent = text;
    this.#problem.hidden = text === "";
  }

  /**
   * Show how many bytes the message box holds against the limit.
   *
   * @param bytes The UTF-8 size of the text.
   * @param limit The largest size sent.
   */
  setByteCount(bytes: number, limit: number): void {
    this.#counter.textContent = `${bytes}/${limit}`;
    this.#counter.classList.toggle("over", bytes > limit);
  }

  #entryNode(entry: LogEntry): DomElement {
    const item = dom.createElement("li");
    item.className = `entry ${entry.kind}${entry.own ? " own" : ""}${
      entry.earlier ? " earlier" : ""
    }`;
    const time = dom.createElement("time") as DomTime;
    time.dateTime = entry.time.toISOString();
    time.textContent = entry.earlier
      ? `earlier ${dateClock.format(entry.time)}`
      : clock.format(entry.time);
    item.append(time);
    if (entry.sender !== undefined) {
      item.append(span("sender", entry.sender));
    }
    item.append(span("text", entry.text));
    return item;
  }
}
