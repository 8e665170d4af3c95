/**
 * Client side of hubbub: a connection that speaks the wire format, used by
 * the terminal chat client (`deno task client`) and the tests, and the
 * pieces of the terminal client: its I/O-free session, its line editor, its
 * reconnection backoff and `inertText`, which makes untrusted text safe to
 * show (free of Deno APIs, for a web page too).
 *
 * @module
 */

export { type ByteStream, ChatConnection } from "./chat_connection.ts";
export { type ConnectOptions, connectTcp } from "./tcp_connect.ts";
export {
  ChatSession,
  COMMAND_HELP,
  type SessionOutput,
} from "./chat_session.ts";
export {
  displayWidth,
  type EditorEvent,
  LineEditor,
  type LineEditorOptions,
} from "./line_editor.ts";
export { type BackoffOptions, ReconnectBackoff } from "./reconnect_backoff.ts";
export { inertText, isInert } from "./terminal_text.ts";
