/**
 * The chat page's entry point: connects to the server's WebSocket gateway
 * (`/ws` on the page's own origin), wires the forms to the chat state, and
 * reconnects with jittered exponential backoff (the terminal client's
 * `ReconnectBackoff`) whenever the connection is lost, saying so on screen.
 *
 * @module
 */

import { MAX_BODY_SIZE } from "../protocol/constants.ts";
import { ReconnectBackoff } from "../client/reconnect_backoff.ts";
import { inertText } from "../client/terminal_text.ts";
import { ChatState, type LogEntry, type Request } from "./chat_state.ts";
import { FrameSocket } from "./frame_socket.ts";
import { PageView } from "./page_view.ts";
import { dom } from "./_dom.ts";

const encoder = new TextEncoder();
const view = new PageView();
const state = new ChatState();
const backoff = new ReconnectBackoff();
const gatewayUrl = new URL("/ws", location.href);
gatewayUrl.protocol = location.protocol === "https:" ? "wss:" : "ws:";

/** How often the room list is asked for again, in ms. */
const ROOMS_REFRESH_MS = 15_000;

let socket: FrameSocket | null = null;
let greetings = 0;

function notice(text: string): LogEntry {
  return { kind: "notice", time: new Date(), text };
}

let shownRevision = -1;

/** Redraw the room, member and room lists when the state says they changed. */
function render(): void {
  if (state.revision === shownRevision) return;
  shownRevision = state.revision;
  view.setRoom(state.room === null ? null : inertText(state.room));
  const names = new Map<number, string>();
  for (const id of state.members.keys()) names.set(id, state.nameOf(id));
  view.setMembers(names, state.id, state.moreMembers);
  view.setRooms(
    // Our own room's size is known exactly from its member list; the
    // others' are as of the last list (asked for now and then, not on
    // every presence, which would spend the message budget).
    state.rooms.map(({ room, members }) => ({
      name: room,
      shown: inertText(room),
      members: room === state.room
        ? state.members.size + state.moreMembers
        : members,
    })),
    state.room,
    state.moreRooms,
    (room) => submit(state.requestJoin(room)),
  );
  if (dom.activeElement !== view.nickInput && state.nick !== null) {
    view.nickInput.value = state.nick;
  }
}

function connect(): void {
  view.setStatus(
    greetings === 0 ? "connecting" : "reconnecting",
    greetings === 0 ? "Connecting…" : "Reconnecting…",
  );
  let opened = false;
  const current = new FrameSocket(gatewayUrl.href, {
    open() {
      opened = true;
      for (const frame of state.onConnect()) current.send(frame);
    },
    frame(frame) {
      const wasGreeted = state.id !== 0;
      const update = state.onFrame(frame, new Date());
      if (!wasGreeted && state.id !== 0) {
        backoff.connected(Date.now());
        greetings++;
        if (greetings > 1) update.log.unshift(notice("Reconnected"));
      }
      if (state.id !== 0) {
        const who = state.nick === null
          ? `#${state.id}`
          : `${inertText(state.nick)} (#${state.id})`;
        view.setStatus("connected", `Connected as ${who}`);
      }
      for (const bytes of update.send) current.send(bytes);
      view.appendLog(update.log);
      if (update.closed !== undefined) {
        const reason = update.closed === "" ? "" : `: ${update.closed}`;
        view.appendLog([notice(`The server closed the connection${reason}`)]);
        current.close();
      }
      render();
    },
    closed() {
      if (socket !== current) return;
      socket = null;
      const wasConnected = state.id !== 0;
      state.onDisconnect();
      render();
      const delay = backoff.nextDelayMs(Date.now());
      const seconds = (delay / 1000).toFixed(1);
      view.setStatus(
        "reconnecting",
        `${
          opened ? "Connection lost" : "Cannot reach the server"
        }: reconnecting in ${seconds} s`,
      );
      if (wasConnected) {
        view.appendLog([notice("Connection lost; reconnecting")]);
      }
      setTimeout(connect, delay);
    },
  });
  socket = current;
}

/** Send what a request made, or show why it cannot be. */
function submit(request: Request): boolean {
  if ("problem" in request) {
    view.setProblem(request.problem);
    return false;
  }
  if (socket === null || state.id === 0) {
    view.setProblem("Not connected: wait for the connection to come back.");
    return false;
  }
  view.setProblem("");
  socket.send(request.frame);
  return true;
}

function updateByteCount(): void {
  view.setByteCount(encoder.encode(view.input.value).length, MAX_BODY_SIZE);
}

view.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  if (submit(state.composeChat(view.input.value))) {
    view.input.value = "";
    updateByteCount();
  }
});
view.input.addEventListener("input", () => {
  updateByteCount();
  view.setProblem("");
});
view.roomForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (submit(state.requestJoin(view.roomInput.value))) {
    view.roomInput.value = "";
  }
});
view.roomsRefresh.addEventListener("click", () => {
  if (socket !== null && state.id !== 0) socket.send(state.requestRooms());
});
// Others come and go from other rooms unannounced: refresh the list now and then.
setInterval(() => {
  if (socket !== null && state.id !== 0) socket.send(state.requestRooms());
}, ROOMS_REFRESH_MS);
view.nickForm.addEventListener("submit", (event) => {
  event.preventDefault();
  submit(state.requestNick(view.nickInput.value));
});

updateByteCount();
render();
connect();
