/**
 * Words for why a connection ended under a client, the same for a failed
 * read and a failed write: a peer that reset or went away is "gone", never
 * a slow consumer.
 *
 * @module
 */

import type { Channel } from "../channel.ts";
import type { Connection } from "../connection.ts";
import type { HubEvent } from "../events.ts";

/**
 * Describe a read or write error for the disconnect log line.
 *
 * @param error What the read or write threw.
 * @returns `connection reset`, `broken pipe`, `connection closed`, or the
 * error's message.
 */
export function describeConnectionError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (
    error instanceof Deno.errors.ConnectionReset || code === "ECONNRESET"
  ) {
    return "connection reset";
  }
  if (error instanceof Deno.errors.BrokenPipe || code === "EPIPE") {
    return "broken pipe";
  }
  if (
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    code === "ERR_STREAM_DESTROYED"
  ) {
    return "connection closed";
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Tell the hub why a reader stopped on `error`: a violation of the wire
 * format (the reader's own error class: ERROR, then close) or the
 * connection failing under it (gone).
 *
 * @param channel The hub's inbox.
 * @param client The reader's client.
 * @param error What the read loop threw.
 * @param isViolation Whether `error` is a protocol violation.
 */
export function reportReadFailure(
  channel: Channel<HubEvent>,
  client: Connection,
  error: unknown,
  isViolation: boolean,
): void {
  channel.push(
    isViolation
      ? { kind: "violation", client, reason: (error as Error).message }
      : { kind: "gone", client, detail: describeConnectionError(error) },
  );
}
