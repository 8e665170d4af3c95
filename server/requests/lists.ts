import {
  encodeFrame,
  encodeJsonBody,
  type MemberEntry,
  type RoomEntry,
  Tag,
} from "../../protocol/mod.ts";
import type { Connection } from "../connection.ts";
import type { RequestContext } from "./context.ts";

/** Entries at most in one ROOMS or WHO reply. */
export const LIST_LIMIT = 1000;

/**
 * ROOMS: one frame per room (name and member count, largest first), then
 * an empty frame.
 *
 * @param context The hub's state and output.
 * @param client The client.
 */
export function rooms(context: RequestContext, client: Connection): void {
  if (context.cluster) {
    context.cluster.rooms(client);
    return;
  }
  sendList(context, client, Tag.ROOMS, context.presence.rooms.entries());
}

/**
 * WHO: one frame per member of the client's room (id and nickname), then
 * an empty frame.
 *
 * @param context The hub's state and output.
 * @param client The client.
 */
export function who(context: RequestContext, client: Connection): void {
  if (context.cluster) {
    context.cluster.who(client);
    return;
  }
  sendList(
    context,
    client,
    Tag.WHO,
    client.room!.members.map((member) => ({
      id: member.id,
      nick: member.nickname,
    })),
  );
}

/**
 * Send a list: at most {@linkcode LIST_LIMIT} entries, then `{ more: n }`
 * for the rest if any, then an empty frame that ends it.
 *
 * @param context The hub's output.
 * @param client The client that asked.
 * @param tag ROOMS or WHO.
 * @param entries The list.
 */
export function sendList(
  context: RequestContext,
  client: Connection,
  tag: number,
  entries: RoomEntry[] | MemberEntry[],
): void {
  const listed = Math.min(entries.length, LIST_LIMIT);
  for (let i = 0; i < listed; i++) {
    context.send(client, encodeFrame(tag, 0, encodeJsonBody(entries[i])));
  }
  if (entries.length > listed) {
    context.send(
      client,
      encodeFrame(tag, 0, encodeJsonBody({ more: entries.length - listed })),
    );
  }
  context.send(client, encodeFrame(tag, 0));
}
