/**
 * Client side of hubbub: a connection that speaks the wire format, used by
 * the terminal chat client (`deno task client`) and the tests.
 *
 * @module
 */

export { ChatConnection, type ConnectOptions } from "./chat_connection.ts";
