/**
 * How the hub drops a client, as a value: the modules that decide a client
 * must go (admission, keepalive, requests) say so with a {@linkcode Farewell}
 * and the hub, which alone owns the client, carries it out.
 *
 * @module
 */

import type { DisconnectReasonValue } from "./events.ts";

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
