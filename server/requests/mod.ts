/**
 * The requests a client may send besides CHAT, one module each: it parses
 * the frame's body and applies it against the hub's state through a
 * {@linkcode RequestContext}. The hub looks the handler up by tag
 * ({@linkcode requestHandler}) and calls it; the CHAT fast path does not go
 * through here.
 *
 * @module
 */

import { Tag } from "../../protocol/mod.ts";
import { close } from "./close.ts";
import type { RequestHandler } from "./context.ts";
import { history } from "./history.ts";
import { join } from "./join.ts";
import { rooms, who } from "./lists.ts";
import { nick } from "./nick.ts";
import { ping } from "./ping.ts";

export type { RequestContext, RequestHandler } from "./context.ts";
export { join, parseJoin } from "./join.ts";
export { LIST_LIMIT, rooms, sendList, who } from "./lists.ts";
export { nick, parseNick } from "./nick.ts";
export { ping } from "./ping.ts";
export { close } from "./close.ts";
export { history, HISTORY_OFF, sendHistoryAnswer } from "./history.ts";

/**
 * The handler of each request tag. PONG needs nothing (any frame proves
 * the client alive); unknown tags, and tags only servers send, have none and
 * are skipped, so old and new clients coexist.
 */
const HANDLERS = new Map<number, RequestHandler>([
  [Tag.CLOSE, close],
  [Tag.PING, ping],
  [Tag.JOIN, join],
  [Tag.NICK, nick],
  [Tag.ROOMS, rooms],
  [Tag.WHO, who],
  [Tag.HISTORY, history],
]);

/**
 * The handler for a frame of `tag`.
 *
 * @param tag The frame's tag.
 * @returns Its handler, or `undefined` for a frame that needs no answer.
 */
export function requestHandler(tag: number): RequestHandler | undefined {
  return HANDLERS.get(tag);
}
