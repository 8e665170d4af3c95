import { setTimeout as delay } from "node:timers/promises";
import {
  AcceptErrorKind,
  type AcceptErrorKindValue,
  classifyAcceptError,
} from "./_accept_error.ts";
import { FileReserve } from "./_file_reserve.ts";
import type { Logger } from "../../logger.ts";

export { AcceptErrorKind, type AcceptErrorKindValue, classifyAcceptError };

/** First pause after a failed accept, in ms. */
const FIRST_BACKOFF_MS = 10;
/** Longest pause between accept attempts, in ms. */
const MAX_BACKOFF_MS = 1000;
/** Descriptors held back for refusing connections at the cap. */
const RESERVED_FILES = 4;

/** What the accept loop calls back into. */
export interface AcceptHandlers {
  /** A connection was accepted. Called synchronously. */
  onConnection(conn: Deno.Conn): void;
  /**
   * The process is out of file descriptors: tell this connection the server
   * is full and close it.
   */
  onRefused(conn: Deno.Conn): Promise<void>;
  /** An accept failed (counted by kind). Called synchronously. */
  onAcceptError?(kind: AcceptErrorKindValue): void;
}

/**
 * Wait `ms` milliseconds, or reject when `signal` is aborted. The accept
 * loop's backoff; tests pass their own to see the pauses without waiting.
 */
export type Pause = (ms: number, signal: AbortSignal) => Promise<void>;

const pauseFor: Pause = (ms, signal) => delay(ms, undefined, { signal });

/**
 * Accept connections until the listener is closed.
 *
 * A waiting connection that broke before it was accepted (a peer that
 * connected and reset: ENOTCONN, ECONNABORTED, ECONNRESET, EPROTO…)
 * concerns that connection alone: the loop counts it and accepts the next
 * one at once, so a flood of resets never delays a newcomer. Running out of
 * file descriptors does not end the loop or leave newcomers hanging: a few
 * descriptors are held in reserve, and at the cap one is given back just
 * long enough to accept the waiting connection and refuse it with
 * `onRefused`. Only resource shortages (and errors the loop does not know)
 * back off, from 10 ms up to 1 s, with one warning per run of failures.
 * Connections already open are never affected.
 *
 * @param listener The listening socket (only `accept` is used).
 * @param handlers Where accepted and refused connections, and failed
 * accepts, go.
 * @param logger Where the warnings go.
 * @param signal Aborted when the server stops; ends a backoff pause early.
 * @param pause How to wait between attempts after a resource error.
 * @returns A promise that settles when the listener is closed.
 */
export async function acceptConnections(
  listener: Pick<Deno.Listener, "accept">,
  handlers: AcceptHandlers,
  logger: Logger,
  signal: AbortSignal,
  pause: Pause = pauseFor,
): Promise<void> {
  const reserve = new FileReserve(RESERVED_FILES);
  let backoff = 0;
  let failures = 0;
  const recovered = () => {
    logger.warn("Accepting again", { failed_accepts: failures });
    failures = 0;
    backoff = 0;
  };
  try {
    while (!signal.aborted) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (signal.aborted || error instanceof Deno.errors.BadResource) return;
        const kind = classifyAcceptError(error);
        handlers.onAcceptError?.(kind);
        const message = error instanceof Error ? error.message : String(error);
        if (kind === AcceptErrorKind.PeerGone) {
          logger.debug("A connection broke before it was accepted", {
            error: message,
          });
          continue;
        }
        failures++;
        const outOfFiles = kind === AcceptErrorKind.OutOfFiles;
        if (failures === 1) {
          logger.warn(
            outOfFiles
              ? "Out of file descriptors; refusing newcomers with ERROR 'server full'"
              : "Accept failed; backing off",
            { error: message },
          );
        }
        if (outOfFiles && reserve.release()) {
          if (await acceptAtCap(listener, handlers, reserve)) recovered();
          continue;
        }
        backoff = Math.min(
          backoff === 0 ? FIRST_BACKOFF_MS : backoff * 2,
          MAX_BACKOFF_MS,
        );
        try {
          await pause(backoff, signal);
        } catch {
          return;
        }
        continue;
      }
      if (failures > 0) recovered();
      handlers.onConnection(conn);
    }
  } finally {
    reserve.close();
  }
}

/**
 * With one reserved descriptor given back, accept the next connection. If
 * descriptors have been freed meanwhile (the reserve fills up again), it is
 * served as usual; otherwise it is refused.
 *
 * @returns `true` when the connection was served.
 */
async function acceptAtCap(
  listener: Pick<Deno.Listener, "accept">,
  handlers: AcceptHandlers,
  reserve: FileReserve,
): Promise<boolean> {
  let conn: Deno.Conn;
  try {
    conn = await listener.accept();
  } catch {
    // The listener closed, or the waiting connection broke: no one to serve.
    reserve.restore();
    return false;
  }
  reserve.restore();
  if (reserve.full) {
    handlers.onConnection(conn);
    return true;
  }
  try {
    await handlers.onRefused(conn);
  } catch {
    // The newcomer left first: nothing more to tell it.
  }
  reserve.restore();
  return false;
}
