import {
  encodeFrame,
  encodeHistoryEnd,
  encodeHistoryEntry,
  parseHistoryRequest,
  Tag,
} from "../../protocol/mod.ts";
import { type Connection, ConnectionState } from "../connection.ts";
import type { HistoryAnswer, HistoryRequest } from "../history/mod.ts";
import type { RequestContext } from "./context.ts";

/** The ERROR body of HISTORY on a server without history. */
export const HISTORY_OFF = "history is off";

/**
 * HISTORY: ask the store for earlier messages of the client's current room
 * (at most `historyMaxReply` of them). The store answers later; the answer
 * comes back to the hub as an event and leaves through
 * {@linkcode sendHistoryAnswer} on the hub's turn.
 *
 * @param context The hub's state and output.
 * @param client The client.
 * @param body The request's JSON.
 */
export function history(
  context: RequestContext,
  client: Connection,
  body: Uint8Array,
): void {
  const store = context.history;
  if (store === null) {
    context.refuse(client, Tag.HISTORY, HISTORY_OFF);
    return;
  }
  const parsed = parseHistoryRequest(body);
  if ("problem" in parsed) {
    context.refuse(client, Tag.HISTORY, parsed.problem);
    return;
  }
  const asked = parsed.request;
  const limit = context.historyMaxReply;
  const request: HistoryRequest = "last" in asked
    ? { last: asked.last, until: asked.until, limit }
    : { after: asked.after, until: asked.until, limit };
  store.query(
    client.room!.name,
    request,
    (answer) => context.historyAnswered(client, answer),
  );
}

/**
 * Send the store's answer to a HISTORY request: per message HISTORY (its
 * metadata) then HISTORY_TEXT (its body as relayed), both with the original
 * sender's id, then HISTORY_END. Nothing when the client has gone since it
 * asked; ERROR (sender id 12) when the store could not answer.
 *
 * @param context The hub's state and output.
 * @param client The client that asked.
 * @param answer The store's answer.
 */
export function sendHistoryAnswer(
  context: RequestContext,
  client: Connection,
  answer: HistoryAnswer,
): void {
  if (client.state !== ConnectionState.Open) return;
  if (answer.error !== undefined) {
    context.refuse(
      client,
      Tag.HISTORY,
      `history unavailable: ${answer.error.slice(0, 200)}`,
    );
    return;
  }
  const entries = answer.entries;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    context.send(
      client,
      encodeFrame(Tag.HISTORY, entry.sender, encodeHistoryEntry(entry)),
    );
    context.send(
      client,
      encodeFrame(Tag.HISTORY_TEXT, entry.sender, entry.body),
    );
  }
  context.send(
    client,
    encodeFrame(Tag.HISTORY_END, 0, encodeHistoryEnd(answer)),
  );
}
