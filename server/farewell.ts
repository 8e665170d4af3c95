/**
 * How the hub drops a client, as a value: the modules that decide a client
 * must go (admission, keepalive, requests) say so with a {@linkcode Farewell}
 * and the hub, which alone owns the client, carries it out.
 *
 * @module
 */

import { DisconnectReason, type DisconnectReasonValue } from "./events.ts";

/** How the hub drops a client: counters, log line, last frame. */
export interface Farewell {
  /** Why; the label of the disconnect counters. */
  reason: DisconnectReasonValue;
  /** Log detail. */
  detail?: string;
  /** Body of a final ERROR frame, if any. */
  error?: string;
  /** Body of a final CLOSE frame, if any. */
  close?: string;
  /** Drop queued frames first (they will never be read in time). */
  discardQueued?: boolean;
  /** Log at warn rather than info. */
  warn?: boolean;
  /** Longest the last frames may take to leave; default the hub's. */
  lingerMs?: number;
  /**
   * With reason gone: the peer only ended its input (perhaps a half-close),
   * so what is queued for it leaves first, as with the other reasons.
   */
  flushFirst?: boolean;
}

/** A client's CLOSE, answered with CLOSE. */
export const CLOSED: Farewell = { reason: DisconnectReason.Closed, close: "" };

/** A bug surfaced while handling the client's event. */
export const INTERNAL_ERROR: Farewell = {
  reason: DisconnectReason.InternalError,
  detail: "internal error",
  error: "internal server error",
  warn: true,
};

/**
 * The client broke the protocol: told why in an ERROR.
 *
 * @param reason What it did wrong.
 * @returns The farewell.
 */
export function protocolViolation(reason: string): Farewell {
  return {
    reason: DisconnectReason.Protocol,
    detail: reason,
    error: reason,
    warn: true,
  };
}

/**
 * The peer is gone (its input ended, or a read or write failed).
 *
 * @param detail Log detail.
 * @param endOfInput The peer only ended its input: what is queued leaves first.
 * @returns The farewell.
 */
export function peerGone(detail: string, endOfInput?: boolean): Farewell {
  return { reason: DisconnectReason.Gone, detail, flushFirst: endOfInput };
}

/**
 * The client does not read fast enough: what is queued for it is dropped and
 * it is told so.
 *
 * @param detail Log detail (how much is pending).
 * @returns The farewell.
 */
export function slowConsumer(detail: string): Farewell {
  return {
    reason: DisconnectReason.SlowConsumer,
    detail,
    error: "slow consumer",
    discardQueued: true,
    warn: true,
  };
}

/**
 * The server shuts down: CLOSE with `reason`, the last frames given the
 * grace period.
 *
 * @param reason Body of the CLOSE.
 * @param graceMs How long the last frames may take to leave.
 * @returns The farewell.
 */
export function shuttingDown(reason: string, graceMs: number): Farewell {
  return {
    reason: DisconnectReason.Shutdown,
    close: reason,
    lingerMs: graceMs,
  };
}
