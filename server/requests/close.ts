import type { Connection } from "../connection.ts";
import type { RequestContext } from "./context.ts";

/**
 * CLOSE: the client leaves; the hub answers CLOSE and ends the connection.
 *
 * @param context The hub's state and output.
 * @param client The client.
 */
export function close(context: RequestContext, client: Connection): void {
  context.close(client);
}
