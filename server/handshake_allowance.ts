/**
 * The bound on connections still in their handshake (a TLS handshake, or
 * waiting to send AUTH). They are not clients yet, so they take no client
 * slot (`--max-clients`); this separate allowance (`--max-handshakes`) keeps
 * peers that never finish from holding unbounded descriptors meanwhile.
 *
 * @module
 */

/** Connections at once that may be in their handshake, by default. */
export const DEFAULT_MAX_HANDSHAKES = 1024;

/**
 * A count of connections in their handshake against a fixed limit. One
 * shared object: the server takes a place for each TLS handshake, the hub
 * for each connection awaiting AUTH.
 *
 * @example Usage
 * ```ts
 * import { HandshakeAllowance } from "./handshake_allowance.ts";
 * const allowance = new HandshakeAllowance(1);
 * console.log(allowance.take(), allowance.take()); // true false
 * allowance.release();
 * ```
 */
export class HandshakeAllowance {
  /** The most connections in their handshake at once. */
  readonly limit: number;
  #inUse = 0;

  /** @param limit The most connections in their handshake at once (at least 1). */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Connections in their handshake now. */
  get inUse(): number {
    return this.#inUse;
  }

  /**
   * Take a place for a connection starting its handshake.
   *
   * @returns `false`, taking nothing, when every place is taken.
   */
  take(): boolean {
    if (this.#inUse >= this.limit) return false;
    this.#inUse++;
    return true;
  }

  /** Give back a place: the handshake finished, failed or timed out. */
  release(): void {
    if (this.#inUse > 0) this.#inUse--;
  }
}
