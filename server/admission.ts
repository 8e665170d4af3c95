/**
 * Who becomes a client: the connect path and the handshake. A newcomer
 * passes the client cap (`--max-clients`) and its address's connection rate
 * (`--max-address-connects-per-second`); with tokens required it then takes
 * a handshake place (`--max-handshakes`) until its first frame, which must
 * be AUTH with an accepted token, arrives within `--handshake-timeout`.
 *
 * {@linkcode Admission} decides and keeps the bookkeeping; the hub, which
 * owns the clients, carries out what it says: register, wait, or drop with
 * the {@linkcode Farewell} given.
 *
 * @module
 */

import { HEADER_SIZE, readBodyLength, readTag, Tag } from "../protocol/mod.ts";
import { AddressLimits } from "./address_limits.ts";
import type { Connection } from "./connection.ts";
import { DisconnectReason } from "./events.ts";
import type { Farewell } from "./farewell.ts";
import type { HandshakeAllowance } from "./handshake_allowance.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { StallHistory } from "./token_bucket.ts";
import type { HubOptions } from "./settings.ts";

/** Verdict: issue the client an id now. */
export const REGISTER = "register";
/** Verdict: the connection waits for its AUTH frame. */
export const AWAIT_AUTH = "await-auth";

/** What to do with a newcomer or its first frame: register, wait, or drop. */
export type AdmissionVerdict = typeof REGISTER | typeof AWAIT_AUTH | Farewell;

/**
 * Settings of {@linkcode Admission}: the hub's own. The message rates are
 * there for the budget an address's connections share (see
 * {@linkcode AddressLimits}), which is off when messages are not limited.
 */
export type AdmissionOptions = Pick<
  HubOptions,
  | "tokens"
  | "maxClients"
  | "handshakeTimeoutMs"
  | "maxAddressConnectsPerSecond"
  | "addressConnectBurst"
  | "maxMessagesPerSecond"
  | "maxAddressMessagesPerSecond"
  | "addressMessageBurst"
>;

/** The farewell of a connection that sent no AUTH in time. */
export const HANDSHAKE_TIMED_OUT: Farewell = {
  reason: DisconnectReason.Auth,
  detail: "no AUTH within the handshake timeout",
  error: "authentication timed out",
};

const NOT_AUTH: Farewell = {
  reason: DisconnectReason.Auth,
  detail: "first frame was not AUTH",
  error: "authentication required",
  warn: true,
};

const WRONG_TOKEN: Farewell = {
  reason: DisconnectReason.Auth,
  detail: "wrong token",
  error: "authentication failed",
  warn: true,
};

const NO_ONE: readonly Connection[] = [];

/**
 * The admission policy with its state: the connections awaiting AUTH, the
 * handshake places they hold, and what the per-address limits know of each
 * connection's source address.
 *
 * @example Usage
 * ```ts no-eval
 * const verdict = admission.admit(client, hub.gauges.clientCount, now, stalls);
 * if (verdict === REGISTER) register(client);
 * else if (verdict !== AWAIT_AUTH) drop(client, verdict);
 * ```
 */
export class Admission {
  #options: AdmissionOptions;
  #handshakes: HandshakeAllowance;
  #addresses: AddressLimits;
  #logger: Logger;
  #metrics: Metrics;
  /** Connections awaiting AUTH, with when they connected. */
  #awaiting = new Map<Connection, number>();
  #full: Farewell;
  #connectRate: Farewell;
  #busy: Farewell;

  /**
   * @param options Client cap, tokens, handshake timeout.
   * @param handshakes The places for connections in their handshake (shared with TLS).
   * @param logger For the debug line of a connection awaiting AUTH.
   * @param metrics Where authentication failures are counted.
   */
  constructor(
    options: AdmissionOptions,
    handshakes: HandshakeAllowance,
    logger: Logger,
    metrics: Metrics,
  ) {
    this.#options = options;
    this.#handshakes = handshakes;
    this.#addresses = new AddressLimits({
      connectsPerSecond: options.maxAddressConnectsPerSecond,
      connectBurst: options.addressConnectBurst,
      messagesPerSecond: options.maxMessagesPerSecond > 0
        ? options.maxAddressMessagesPerSecond
        : 0,
      messageBurst: options.addressMessageBurst,
    });
    this.#logger = logger;
    this.#metrics = metrics;
    this.#full = {
      reason: DisconnectReason.ServerFull,
      detail: `limit of ${options.maxClients} clients reached`,
      error: "server full",
      warn: true,
    };
    this.#connectRate = {
      reason: DisconnectReason.ConnectRateLimited,
      detail:
        `over ${options.maxAddressConnectsPerSecond} connections per second from one address`,
      error: "too many connections from your address",
      warn: true,
    };
    this.#busy = {
      reason: DisconnectReason.HandshakeLimit,
      detail:
        `limit of ${handshakes.limit} connections in their handshake reached`,
      error: "server busy",
      warn: true,
    };
  }

  /** Connections waiting to authenticate. */
  get awaitingCount(): number {
    return this.#awaiting.size;
  }

  /** Source addresses the per-address limits remember now. */
  get trackedAddresses(): number {
    return this.#addresses.size;
  }

  /** The connections waiting to authenticate. Read-only use. */
  awaiting(): IterableIterator<Connection> {
    return this.#awaiting.keys();
  }

  /**
   * A connection was accepted: may it become a client?
   *
   * @param client The newcomer; on admission its `address` is set.
   * @param clientCount Clients registered now.
   * @param now The hub's time in ms.
   * @param stalls When the server could not read (credited to the connection rate).
   * @returns {@linkcode REGISTER}, {@linkcode AWAIT_AUTH}, or how to refuse it.
   */
  admit(
    client: Connection,
    clientCount: number,
    now: number,
    stalls?: StallHistory,
  ): AdmissionVerdict {
    if (this.#isFull(clientCount)) return this.#full;
    const address = this.#addresses.admit(
      client.transport.remoteAddress,
      now,
      stalls,
    );
    if (address === null) return this.#connectRate;
    client.address = address;
    if (this.#options.tokens === null) return REGISTER;
    if (!this.#handshakes.take()) return this.#busy;
    this.#awaiting.set(client, now);
    this.#logger.debug("Connection awaiting authentication", {
      address: client.transport.remoteAddress,
    });
    return AWAIT_AUTH;
  }

  /**
   * The first frame of a connection awaiting AUTH: it ends the handshake.
   * An accepted token makes it a hubbub client.
   *
   * @param client The connection.
   * @param bytes Whole frames, the first at offset 0.
   * @param clientCount Clients registered now (the slots may have filled meanwhile).
   * @returns {@linkcode REGISTER}, or how to refuse it.
   */
  authenticate(
    client: Connection,
    bytes: Uint8Array,
    clientCount: number,
  ): AdmissionVerdict {
    this.#endHandshake(client);
    const token = bytes.subarray(
      HEADER_SIZE,
      HEADER_SIZE + readBodyLength(bytes, 0),
    );
    if (readTag(bytes, 0) !== Tag.AUTH) return NOT_AUTH;
    if (!this.#options.tokens!.verify(trimmed(token))) {
      this.#metrics.authFailures++;
      return WRONG_TOKEN;
    }
    // Handshakes take no client slot: the slots may have filled meanwhile.
    if (this.#isFull(clientCount)) return this.#full;
    client.declareHubbub();
    return REGISTER;
  }

  /**
   * Housekeeping: end the handshakes that ran out of time, and forget idle
   * addresses.
   *
   * @param now The hub's time in ms.
   * @returns The connections to drop with {@linkcode HANDSHAKE_TIMED_OUT}
   * (their places already given back).
   */
  expire(now: number): readonly Connection[] {
    this.#addresses.sweep(now);
    const timeout = this.#options.handshakeTimeoutMs;
    if (timeout <= 0 || this.#awaiting.size === 0) return NO_ONE;
    const late: Connection[] = [];
    for (const [client, since] of this.#awaiting) {
      if (now - since >= timeout) late.push(client);
    }
    for (const client of late) this.#endHandshake(client);
    return late;
  }

  /**
   * A connection is being dropped: give back its handshake place, if any,
   * and its address's connection.
   *
   * @param client The connection.
   */
  release(client: Connection): void {
    this.#endHandshake(client);
    if (client.address !== null) {
      this.#addresses.release(client.address);
      client.address = null;
    }
  }

  /** Whether every client slot (`maxClients`) is taken. */
  #isFull(clientCount: number): boolean {
    const maxClients = this.#options.maxClients;
    return maxClients > 0 && clientCount >= maxClients;
  }

  #endHandshake(client: Connection): void {
    if (this.#awaiting.delete(client)) this.#handshakes.release();
  }
}

/**
 * The bytes without leading and trailing whitespace: space, tab, CR and LF
 * only, so that a token with a NUL or another control byte around it is a
 * different token, not the same one.
 */
function trimmed(bytes: Uint8Array): Uint8Array {
  let start = 0;
  let end = bytes.length;
  while (start < end && isTokenWhitespace(bytes[start])) start++;
  while (end > start && isTokenWhitespace(bytes[end - 1])) end--;
  return bytes.subarray(start, end);
}

function isTokenWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0a;
}
