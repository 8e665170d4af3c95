import { encodeFrame, Tag } from "../../protocol/mod.ts";
import type { Connection } from "../connection.ts";
import type { RequestContext } from "./context.ts";

/**
 * PING: answer PONG with the same body.
 *
 * @param context The hub's state and output.
 * @param client The client.
 * @param body Any bytes, echoed.
 */
export function ping(
  context: RequestContext,
  client: Connection,
  body: Uint8Array,
): void {
  context.send(client, encodeFrame(Tag.PONG, 0, body));
}
