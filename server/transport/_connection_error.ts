/**
 * Words for why a connection ended under a client, the same for a failed
 * read and a failed write: a peer that reset or went away is "gone", never
 * a slow consumer.
 *
 * @module
 */

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
