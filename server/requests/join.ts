import { roomNameProblem, Tag } from "../../protocol/mod.ts";
import type { Connection } from "../connection.ts";
import { decodeName } from "./_names.ts";
import type { RequestContext } from "./context.ts";

/**
 * The room a JOIN body names, or why it names none.
 *
 * @param body The JOIN body.
 * @param maxBytes Longest room name in UTF-8 bytes.
 * @returns `{ room }` in NFC, or `{ problem }` to refuse with.
 */
export function parseJoin(
  body: Uint8Array,
  maxBytes: number,
): { room: string } | { problem: string } {
  const room = decodeName(body);
  if (room === null) return { problem: "room name is not valid UTF-8" };
  const problem = roomNameProblem(room, maxBytes);
  return problem === null ? { room } : { problem };
}

/**
 * JOIN: move to the named room (leave announced to the old room, join to
 * the new one), or confirm to the client alone when it is already there.
 *
 * @param context The hub's state and output.
 * @param client The client.
 * @param body The room name.
 */
export function join(
  context: RequestContext,
  client: Connection,
  body: Uint8Array,
): void {
  const parsed = parseJoin(body, context.maxRoomNameBytes);
  if ("problem" in parsed) {
    context.refuse(client, Tag.JOIN, parsed.problem);
    return;
  }
  const presence = context.presence;
  if (client.room!.name === parsed.room) {
    presence.confirmJoin(client);
    return;
  }
  presence.exit(client);
  presence.enter(client, parsed.room);
  context.logger.debug("Client joined room", {
    id: client.id,
    room: parsed.room,
  });
}
