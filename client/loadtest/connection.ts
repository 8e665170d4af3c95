/**
 * One connection of a load-generator worker: its socket, its read buffer and
 * the receiving side of the test. A read's frames are parsed in place by the
 * target's parser, which reports each delivery to
 * {@linkcode Connection.delivered}: the payload's fields checked against the
 * publisher's sequence and sender id, and its latency counted. A connection
 * also answers PINGs, waits for its join, and, when stalled, stops reading
 * until the end-of-run probe ({@linkcode resumeAndProbeAll}).
 *
 * The hot path, a read of a receiving connection, allocates nothing per
 * delivery: the payload fields are read through a per-buffer `DataView`, the
 * clock is read once per read, and the only work per delivery is a sequence
 * check, one step of the order hash and one histogram record.
 *
 * @module
 */

import type { ShardPlan } from "./_messages.ts";
import { withinTime } from "./_time_limit.ts";
import { writeAll } from "./_write_all.ts";
import type { ByteConnection } from "./_ws_connection.ts";
import { RejectedError } from "./connect_failure.ts";
import type { Connectable } from "./connect_loop.ts";
import type { ShardCounters } from "./counters.ts";
import type { DeliveryChecker } from "./delivery_checker.ts";
import type { OrderHashes } from "./order_check.ts";
import {
  PAYLOAD_HEADER_SIZE,
  payloadMicroseconds,
  type PayloadReader,
  sharedClockMs,
} from "./payload.ts";
import type { Publisher } from "./publisher.ts";
import type { StreamSink, Target } from "./targets/target.ts";

/** First read buffer of a connection. */
const INITIAL_READ_BUFFER = 2048;
/** Largest read buffer a busy connection grows to. */
const MAX_READ_BUFFER = 256 * 1024;
/**
 * The end-of-run check of the stalled connections: each reads again and
 * sends the target's probe, and counts as held once the answer comes (after
 * everything the server still had queued for it). One that has received
 * nothing for this long, without the answer, counts as no longer served.
 */
const STALLED_SILENCE_MS = 2_000;
/** Longest the whole check may take, ms (the main thread waits 30 s). */
const STALLED_CHECK_LIMIT_MS = 20_000;

/** A connection's part in the test. */
export const Role = {
  /** Receives and checks every delivery; may also publish (hubbub). */
  Receiver: 0,
  /** Joins and then only reads, without checking. */
  Idle: 1,
  /** Only publishes (Redis: a subscribed connection cannot PUBLISH). */
  PublishOnly: 2,
  /** Joins the test's room and then stops reading until the run ends. */
  Stalled: 3,
} as const;
/** One of {@linkcode Role}'s values. */
export type RoleValue = typeof Role[keyof typeof Role];

/**
 * Words for why a connection or a write ended.
 *
 * @param error What the read or write threw.
 * @returns A short description, for the disconnect and send-failure counts.
 */
export function describeDisconnect(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.BrokenPipe) return "broken pipe";
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * What a connection reads and writes of its worker (the shard): the run's
 * schedule and checks, the counters, the publishers, and the calls back when
 * a read ends, a receiver read during the drain, or the connection ended.
 * The schedule and the per-read fields are plain fields, read on every
 * delivery.
 */
export interface ConnectionOwner {
  /** What the worker is to do. */
  readonly plan: ShardPlan;
  /** The server's wire format. */
  readonly target: Target;
  /** What the worker counts. */
  readonly counters: ShardCounters;
  /** Size of the publisher index space. */
  readonly publisherIndexes: number;
  /** Subscribers a Redis PUBLISH should reach at least. */
  readonly subscribers: number;
  /** Issued id of each publisher index, 0 until known. */
  readonly senderIds: Float64Array;
  /** The worker's publishers by payload index. */
  readonly localPublishers: (Publisher | undefined)[];
  /** The exact accounting of deliveries, once the load starts. */
  readonly checker: DeliveryChecker | null;
  /** Each receiver's order hash, once the load starts. */
  readonly orders: OrderHashes | null;
  /** Shared-clock time the measured window starts, ms. */
  readonly measureFrom: number;
  /** Shared-clock time publishing stops, ms. */
  readonly publishUntil: number;
  /** The measured window's start as a payload time. */
  readonly measureFromMicroseconds: number;
  /** The measured window's end as a payload time. */
  readonly publishUntilMicroseconds: number;
  /**
   * Reads the payloads; set to the time of the read being parsed and the
   * measured window before each parse.
   */
  readonly payloads: PayloadReader;
  /** Whether the read being parsed arrived in the measured window. */
  inMeasuredWindow: boolean;
  /** Publishers whose window opened during the read. */
  readonly pumpQueue: Publisher[];
  /** Drain: some open receiver still lacks a message. */
  readonly draining: boolean;
  /** True once the stalled connections read again (end of the run). */
  readonly releasing: boolean;
  /** Run the publishers of {@linkcode ConnectionOwner.pumpQueue}. */
  runPumps(): void;
  /** Drain: a receiver read something, or ended. */
  receiverRead(connection: Connection): void;
  /** A connection ended, with the read's error (or `null`) and the reason. */
  connectionEnded(
    connection: Connection,
    error: unknown,
    closedReason: string,
  ): void;
}

/**
 * Stalled connections, at the end of the run: let each read again and probe
 * the server on it, and wait until each has ended, had its answer, or gone
 * {@linkcode STALLED_SILENCE_MS} without data. Those without an answer count
 * as dropped: closed, or silent (the kernel can give up on a dropped
 * connection's orphaned socket without an end of stream).
 *
 * @param stalled The stalled connections.
 * @returns Resolves once each has settled, or after
 * {@linkcode STALLED_CHECK_LIMIT_MS}.
 */
export async function resumeAndProbeAll(stalled: Connection[]): Promise<void> {
  const settled = stalled.map((connection) => connection.resumeAndProbe());
  try {
    await withinTime(
      Promise.all(settled),
      STALLED_CHECK_LIMIT_MS,
      () => new Error("stalled connections unsettled"),
    );
  } catch {
    // Those still unsettled count as dropped; stop their silence timers.
    for (const connection of stalled) connection.settle();
  }
}

/** One socket of a worker, with its read buffer and parser state. */
export class Connection implements StreamSink, Connectable {
  /** The worker. */
  readonly shard: ConnectionOwner;
  /** Its part in the test. */
  readonly role: RoleValue;
  /** Index of the server node (the plan's endpoints) it connects to. */
  readonly endpoint: number;
  /** Index among the shard's receivers (the checker's), -1 if none. */
  receiver = -1;
  /** The publisher that writes on (or beside) this connection, if any. */
  publisher: Publisher | null = null;
  /** The socket, `null` before it connects and once closed. */
  conn: ByteConnection | null = null;
  /** The id the server issued (hubbub). */
  id = 0;
  /** Whether the server accepted it into the room. */
  isJoined = false;
  /** Whether its socket is being read (connected and not ended). */
  open = false;
  /**
   * Whether the server has sent a tag above CLOSE, so it is not the
   * original server and frames may be coalesced on this connection (see
   * {@linkcode Target.identifyRequest}).
   */
  newerTags: boolean;
  #lastServerError = "";
  #pongs: Promise<void> = Promise.resolve();
  #joinWaiter: PromiseWithResolvers<void> | null = null;
  /** Whether the server confirmed this connection's own join. */
  #confirmed = false;
  #confirmWaiter: PromiseWithResolvers<void> | null = null;
  /** Stalled: resolved when the connection is to read again. */
  #resume: PromiseWithResolvers<void> | null = null;
  /** Stalled, at the end: resolved once it has ended, answered or gone silent. */
  #settled: PromiseWithResolvers<void> | null = null;
  #silenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** True once the server answered the target's end-of-run probe. */
  answeredProbe = false;
  /** Probes (and identify requests) sent, and answers received. */
  #probesSent = 0;
  #probeAnswers = 0;
  #probing = false;
  /** Stalled: shared-clock time of the last read. */
  lastReadAt = 0;
  /** Drain: this receiver was open and lacked some message. */
  lacking = false;

  /**
   * @param shard The worker.
   * @param role Its part in the test.
   * @param endpoint Index of the server node it connects to.
   */
  constructor(shard: ConnectionOwner, role: RoleValue, endpoint = 0) {
    this.shard = shard;
    this.role = role;
    this.endpoint = endpoint;
    this.newerTags = shard.target.identifyRequest === null;
  }

  /**
   * Send the target's identify request (once, right after the join
   * request); its answer is counted like a probe's, so the end-of-run probe
   * is answered only by the reply that comes after it.
   */
  async identify(): Promise<void> {
    const request = this.shard.target.identifyRequest;
    const conn = this.conn;
    if (request === null || conn === null) return;
    this.#probesSent++;
    await writeAll(conn, request);
  }

  /** Joins no room (a publish-only connection): joined once connected. */
  get publishOnly(): boolean {
    return this.role === Role.PublishOnly;
  }

  /** The room this connection moves to once joined, `null` for the test's. */
  get moveTo(): string | null {
    const room = this.shard.plan.idleRoom;
    return this.role === Role.Idle && room !== "" ? room : null;
  }

  /** Take over a connected socket and start reading it. */
  attach(conn: ByteConnection): void {
    this.conn = conn;
    this.open = true;
    const tcp = conn as Deno.TcpConn;
    if (typeof tcp.setNoDelay === "function") {
      try {
        tcp.setNoDelay(true);
      } catch {
        // Already gone; the read loop will notice.
      }
    }
    this.#readLoop(conn);
  }

  /** A receiver, with `--targets`: joined once its join is confirmed. */
  get awaitsConfirmation(): boolean {
    return this.role === Role.Receiver && this.shard.plan.awaitJoinConfirmation;
  }

  /** Wait until the server confirmed this connection's own join. */
  whenConfirmed(): Promise<void> {
    if (this.#confirmed) return Promise.resolve();
    if (!this.open) {
      return Promise.reject(new RejectedError(this.#closedReason()));
    }
    this.#confirmWaiter ??= Promise.withResolvers<void>();
    return this.#confirmWaiter.promise;
  }

  /** A join was announced (see {@linkcode StreamSink}). */
  joinAnnounced(memberId: number): void {
    if (this.#confirmed || !this.isJoined || memberId !== this.id) return;
    this.#confirmed = true;
    this.#confirmWaiter?.resolve();
    this.#confirmWaiter = null;
  }

  /** Wait until the server accepted the connection into the room. */
  whenJoined(): Promise<void> {
    if (this.isJoined) return Promise.resolve();
    if (!this.open) {
      return Promise.reject(new RejectedError(this.#closedReason()));
    }
    this.#joinWaiter ??= Promise.withResolvers<void>();
    return this.#joinWaiter.promise;
  }

  /**
   * Stalled: read again and probe the server, to learn whether it still
   * serves this connection (see {@linkcode Connection.answeredProbe}).
   *
   * @returns Resolves once the connection has ended, had the answer, or
   * gone {@linkcode STALLED_SILENCE_MS} without data.
   */
  resumeAndProbe(): Promise<void> {
    this.lastReadAt = sharedClockMs();
    this.#settled = Promise.withResolvers<void>();
    this.#resume?.resolve();
    this.#resume = null;
    const conn = this.conn;
    if (conn === null) {
      this.settle();
    } else {
      this.#probing = true;
      this.#probesSent++;
      // A failed write means the server is gone; the read loop sees it too.
      writeAll(conn, this.shard.target.probeRequest).catch(() => {});
      this.#watchSilence();
    }
    return this.#settled.promise;
  }

  /** Stalled, at the end: stop waiting for this connection. */
  settle(): void {
    clearTimeout(this.#silenceTimer);
    this.#settled?.resolve();
  }

  /** Settle once no data came for {@linkcode STALLED_SILENCE_MS}. */
  #watchSilence(): void {
    const quiet = sharedClockMs() - this.lastReadAt;
    if (quiet >= STALLED_SILENCE_MS) {
      this.settle();
      return;
    }
    this.#silenceTimer = setTimeout(
      () => this.#watchSilence(),
      STALLED_SILENCE_MS - quiet,
    );
  }

  /** Close the socket (the read loop then ends). */
  close(): void {
    if (this.conn === null) return;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    this.conn = null;
  }

  #closedReason(): string {
    return this.#lastServerError === ""
      ? "closed by the server"
      : `closed by the server: ${this.#lastServerError}`;
  }

  async #readLoop(conn: ByteConnection): Promise<void> {
    const shard = this.shard;
    const target = shard.target;
    const counters = shard.counters;
    let buffer = new Uint8Array(INITIAL_READ_BUFFER);
    let view = new DataView(buffer.buffer);
    let start = 0;
    let end = 0;
    let failure: unknown = null;
    try {
      for (;;) {
        const count = await conn.read(
          end === 0 ? buffer : buffer.subarray(end),
        );
        if (count === null) break;
        const now = sharedClockMs();
        if (this.role === Role.Stalled) this.lastReadAt = now;
        const filled = end + count === buffer.length;
        end += count;
        // Wire and payload bytes are counted over the same window: the
        // measured one, by arrival.
        shard.inMeasuredWindow = now >= shard.measureFrom &&
          now < shard.publishUntil;
        counters.wireRead(count, shard.inMeasuredWindow);
        if (this.role === Role.Idle && this.isJoined) {
          end = 0;
          continue;
        }
        shard.payloads.setNow(
          payloadMicroseconds(now),
          shard.measureFromMicroseconds,
          shard.publishUntilMicroseconds,
        );
        start = target.parse(buffer, view, start, end, this);
        if (start === end) {
          start = 0;
          end = 0;
        }
        if (filled && buffer.length < MAX_READ_BUFFER) {
          const grown = new Uint8Array(buffer.length * 2);
          grown.set(buffer.subarray(start, end));
          buffer = grown;
          view = new DataView(buffer.buffer);
          end -= start;
          start = 0;
        } else if (start > 0 && end === buffer.length) {
          buffer.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        if (shard.pumpQueue.length > 0) shard.runPumps();
        if (shard.draining) shard.receiverRead(this);
        if (
          this.role === Role.Stalled && this.isJoined && !shard.releasing
        ) {
          // Hang like a client whose process stopped: the server's queue
          // for this connection fills up.
          this.#resume = Promise.withResolvers<void>();
          await this.#resume.promise;
        }
      }
    } catch (error) {
      failure = error;
    }
    this.open = false;
    this.conn = null;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    this.settle();
    shard.connectionEnded(this, failure, this.#closedReason());
    if (this.#confirmWaiter !== null) {
      this.#confirmWaiter.reject(new RejectedError(this.#closedReason()));
      this.#confirmWaiter = null;
    }
    const waiter = this.#joinWaiter;
    if (waiter !== null && !this.isJoined) {
      this.#joinWaiter = null;
      waiter.reject(
        failure instanceof Error &&
          !(failure instanceof Deno.errors.BadResource)
          ? failure
          : new RejectedError(this.#closedReason()),
      );
    }
  }

  /** The server accepted the connection (see {@linkcode StreamSink}). */
  joined(id: number): void {
    if (this.isJoined) return;
    this.isJoined = true;
    this.id = id;
    const waiter = this.#joinWaiter;
    this.#joinWaiter = null;
    waiter?.resolve();
  }

  /**
   * A delivery (see {@linkcode StreamSink}): checked and counted. The hot
   * path: it allocates nothing, and what is rare (a stranger's message, a
   * sender id not yet known or wrong) is in methods of its own, so that this
   * one stays small enough to be inlined into the parser's loop.
   */
  delivered(
    view: DataView,
    payloadOffset: number,
    payloadLength: number,
    senderId: number,
  ): void {
    const receiver = this.receiver;
    if (receiver < 0) return;
    const shard = this.shard;
    const counters = shard.counters;
    const payloads = shard.payloads;
    counters.received(payloadLength);
    if (
      payloadLength < PAYLOAD_HEADER_SIZE ||
      !payloads.read(view, payloadOffset) ||
      payloads.publisher >= shard.publisherIndexes
    ) {
      counters.unexpectedDelivery();
      return;
    }
    const publisher = payloads.publisher;
    const sequence = payloads.sequence;
    if (senderId >= 0 && shard.senderIds[publisher] !== senderId) {
      this.#unknownSenderId(publisher, senderId);
    }
    shard.checker!.record(receiver, publisher, sequence);
    shard.orders!.add(receiver, publisher, sequence);
    counters.latency(payloads.latencyMicroseconds, payloads.sentInWindow);
    if (shard.inMeasuredWindow) counters.measuredPayload(payloadLength);
    const local = shard.localPublishers[publisher];
    if (local !== undefined) {
      if (local.awaitingServerRead) local.serverRead(sequence);
      local.received(sequence);
    }
  }

  /**
   * A delivery stamped with another id than the one known for its
   * publisher: the first one names it, any other is wrong.
   */
  #unknownSenderId(publisher: number, senderId: number): void {
    const senderIds = this.shard.senderIds;
    if (senderIds[publisher] === 0) senderIds[publisher] = senderId;
    else this.shard.counters.wrongSenderId();
  }

  /** The server is not the original (see {@linkcode StreamSink}). */
  newerTagSeen(): void {
    if (this.newerTags) return;
    this.newerTags = true;
    // A publisher waiting for the server to read its frame may go on, coalesced.
    this.publisher?.serverRead(-1);
  }

  /** The server reported an error (see {@linkcode StreamSink}). */
  serverError(text: string): void {
    this.#lastServerError = text;
    if (this.role !== Role.Stalled) this.shard.counters.serverError(text);
  }

  /** The server refused a message (see {@linkcode StreamSink}). */
  publishRefused(): void {
    this.shard.counters.refusalNotice();
    // Closed loop: a refused message never comes back; free its slot.
    this.publisher?.acknowledge();
  }

  /** The server sent PING (see {@linkcode StreamSink}). */
  pinged(reply: Uint8Array): void {
    const conn = this.conn;
    // A publishing connection talks often enough to count as alive, and its
    // writes must not interleave with a PONG; others answer.
    if (conn === null || this.publisher !== null) return;
    this.#pongs = this.#pongs.then(() => writeAll(conn, reply)).catch(
      () => {},
    );
  }

  /** The server answered a probe (see {@linkcode StreamSink}). */
  probeAnswered(): void {
    this.#probeAnswers++;
    if (this.#probing && this.#probeAnswers >= this.#probesSent) {
      this.answeredProbe = true;
      this.settle();
    }
  }

  /** A publish request's reply (see {@linkcode StreamSink}). */
  publishAcknowledged(receivers: number): void {
    if (receivers < this.shard.subscribers) {
      this.shard.counters.publishReplyMismatch();
    }
  }
}
