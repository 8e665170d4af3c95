import { type StallHistory, TokenBucket } from "./token_bucket.ts";

/** Settings of {@linkcode AddressLimits}; a rate of 0 turns its limit off. */
export interface AddressLimitOptions {
  /** New connections per second from one address. */
  connectsPerSecond: number;
  /** Connections one address may open at once before that rate applies. */
  connectBurst: number;
  /** Messages per second shared by all of one address's connections. */
  messagesPerSecond: number;
  /** Messages those connections may send at once before that rate applies. */
  messageBurst: number;
}

/** Addresses without connections kept at most; older ones go first beyond. */
export const MAX_IDLE_ADDRESSES = 100_000;

/**
 * What the server remembers about one source address (see
 * {@linkcode addressKey}): its open connections and the buckets they share.
 */
export class AddressRecord {
  /** The address, as {@linkcode addressKey} gives it. */
  readonly key: string;
  /** Connections from it open now. */
  connections = 0;
  /** Its connection-rate bucket, `null` when that limit is off. */
  readonly connects: TokenBucket | null;
  /** Its shared message bucket, `null` when that limit is off. */
  readonly messages: TokenBucket | null;

  /**
   * @param key The address.
   * @param connects Its connection-rate bucket, if any.
   * @param messages Its shared message bucket, if any.
   */
  constructor(
    key: string,
    connects: TokenBucket | null,
    messages: TokenBucket | null,
  ) {
    this.key = key;
    this.connects = connects;
    this.messages = messages;
  }

  /**
   * Whether forgetting it now would change nothing (no connection, full buckets).
   *
   * @param now The current time in ms.
   * @returns `true` when a fresh record would behave the same.
   */
  isIdle(now: number): boolean {
    return this.connections === 0 &&
      (this.connects === null || this.connects.isFull(now)) &&
      (this.messages === null || this.messages.isFull(now));
  }
}

/** The record of every address when no per-address limit is on. */
const UNLIMITED = new AddressRecord("", null, null);

/**
 * Per-source-address limits: how fast one address may open connections, and
 * a message budget all its connections share, so that reconnecting does not
 * bring a fresh allowance. Memory stays bounded: an address with no
 * connection is forgotten as soon as its buckets are full again (it would
 * get the same full buckets as a newcomer), and beyond
 * {@linkcode MAX_IDLE_ADDRESSES} such addresses the oldest go first.
 *
 * @example Usage
 * ```ts
 * import { AddressLimits } from "./address_limits.ts";
 * const limits = new AddressLimits({
 *   connectsPerSecond: 1,
 *   connectBurst: 2,
 *   messagesPerSecond: 0,
 *   messageBurst: 1,
 * });
 * const a = limits.admit("10.0.0.1:5000", 0)!;
 * limits.admit("10.0.0.1:5001", 0);
 * console.log(limits.admit("10.0.0.1:5002", 0)); // null: over the rate
 * console.log(limits.admit("10.0.0.2:5000", 0) !== null); // true: another address
 * limits.release(a);
 * ```
 */
export class AddressLimits {
  #options: AddressLimitOptions;
  #records = new Map<string, AddressRecord>();
  #enabled: boolean;

  /** @param options The rates and bursts; a rate of 0 turns that limit off. */
  constructor(options: AddressLimitOptions) {
    this.#options = options;
    this.#enabled = options.connectsPerSecond > 0 ||
      options.messagesPerSecond > 0;
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.#records.size;
  }

  /**
   * Count a new connection from `remoteAddress`, unless its address is over
   * the connection rate.
   *
   * @param remoteAddress `host:port` of the peer.
   * @param now The current time in ms (monotonic).
   * @param stalls The server's latest stall (see {@linkcode TokenBucket}).
   * @returns The address's record, to {@linkcode release} when the
   * connection ends; `null` when it is refused (nothing to release).
   */
  admit(
    remoteAddress: string,
    now: number,
    stalls?: StallHistory,
  ): AddressRecord | null {
    if (!this.#enabled) return UNLIMITED;
    const key = addressKey(remoteAddress);
    let record = this.#records.get(key);
    if (record === undefined) {
      const { connectsPerSecond, connectBurst, messagesPerSecond } =
        this.#options;
      record = new AddressRecord(
        key,
        connectsPerSecond > 0
          ? new TokenBucket(connectsPerSecond, connectBurst, now)
          : null,
        messagesPerSecond > 0
          ? new TokenBucket(messagesPerSecond, this.#options.messageBurst, now)
          : null,
      );
      this.#records.set(key, record);
    }
    if (record.connects !== null && !record.connects.take(now, stalls)) {
      return null;
    }
    record.connections++;
    return record;
  }

  /**
   * A connection admitted by {@linkcode admit} has ended.
   *
   * @param record What `admit` returned for it.
   */
  release(record: AddressRecord): void {
    if (record.connections > 0) record.connections--;
  }

  /**
   * Forget addresses that have no connection and full buckets, and the
   * oldest idle ones beyond {@linkcode MAX_IDLE_ADDRESSES}.
   *
   * @param now The current time in ms.
   * @param maxIdle Most addresses without connections to keep.
   * @returns How many were forgotten.
   */
  sweep(now: number, maxIdle = MAX_IDLE_ADDRESSES): number {
    let forgotten = 0;
    let withoutConnections = 0;
    for (const [key, record] of this.#records) {
      if (record.isIdle(now)) {
        this.#records.delete(key);
        forgotten++;
      } else if (record.connections === 0) {
        withoutConnections++;
      }
    }
    if (withoutConnections > maxIdle) {
      // Map order is insertion order: the oldest addresses come first.
      for (const [key, record] of this.#records) {
        if (withoutConnections <= maxIdle) break;
        if (record.connections === 0) {
          this.#records.delete(key);
          withoutConnections--;
          forgotten++;
        }
      }
    }
    return forgotten;
  }
}

/**
 * The source address a limit applies to: the host of `host:port`; an IPv6
 * address counts by its /64 prefix (one subscriber's network usually has a
 * whole /64), an IPv4-mapped IPv6 address as the IPv4 address.
 *
 * @param remoteAddress `host:port` (the host may be IPv6, unbracketed or in brackets).
 * @returns The key, e.g. `203.0.113.7` or `2001:db8:0:1::/64`.
 */
export function addressKey(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(":");
  let host = colon < 0 ? remoteAddress : remoteAddress.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (!host.includes(":")) return host;
  const zone = host.indexOf("%");
  if (zone >= 0) host = host.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped !== null) return mapped[1];
  const groups = ipv6Groups(host);
  if (groups === null) return host;
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/** The eight groups of an IPv6 address, without leading zeros; `null` if malformed. */
function ipv6Groups(host: string): string[] | null {
  const halves = host.toLowerCase().split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 1 || halves[1] === ""
    ? []
    : halves[1].split(":");
  if (tail.length > 0 && tail[tail.length - 1].includes(".")) {
    // An embedded IPv4 tail stands for two groups; only the /64 matters here.
    tail.splice(tail.length - 1, 1, "0", "0");
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array(missing).fill("0"), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return null;
  return groups.map((group) => group.replace(/^0+(?=.)/, ""));
}
