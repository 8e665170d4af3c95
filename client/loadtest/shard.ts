/**
 * One worker's share of a load test: its connections, its publishers, their
 * schedule and the exact accounting of what they receive. Runs inside a
 * worker thread (see `worker.ts`); talks to the main thread only through the
 * messages of `_messages.ts`.
 *
 * The hot path, a read of a receiving connection, parses the frames in place
 * from the connection's own buffer and allocates nothing per delivery: the
 * payload fields are read through a per-buffer `DataView`, the clock is read
 * once per read, and the only work per delivery is a sequence check and two
 * histogram records.
 *
 * @module
 */

import {
  type FromShard,
  type LoadSchedule,
  type ShardPlan,
  type ShardTotals,
  type TickReport,
  type ToShard,
} from "./_messages.ts";
import { threadCpuSeconds } from "./_thread_cpu.ts";
import type { TickerPlan } from "./_ticker_worker.ts";
import { RejectedError } from "./connect_failure.ts";
import { ShardCounters } from "./counters.ts";
import { DeliveryChecker } from "./delivery_checker.ts";
import {
  callAtSharedTime,
  PAYLOAD_HEADER_SIZE,
  payloadFields,
  payloadMicroseconds,
  readPayloadFields,
  sharedClockMs,
  writePayload,
} from "./payload.ts";
import { targetNamed } from "./targets/mod.ts";
import { withinTime } from "./_time_limit.ts";
import type { ByteConnection } from "./_ws_connection.ts";
import { type Connectable, ConnectLoop } from "./connect_loop.ts";
import { writeAll } from "./_write_all.ts";
import type { StreamSink, Target } from "./targets/target.ts";

/** First read buffer of a connection. */
const INITIAL_READ_BUFFER = 2048;
/** Largest read buffer a busy connection grows to. */
const MAX_READ_BUFFER = 256 * 1024;
/** Bytes of one publisher's send buffer (a batch of messages). */
const SEND_BUFFER_BYTES = 64 * 1024;
/**
 * Original-server mode: longest a publisher waits for a receiver to have its
 * last frame before it sends the next anyway (a lost frame must not stop
 * it; the next one makes the original read, and handle, a stuck one).
 */
const SERVER_READ_WAIT_MS = 1_000;
/** Shortest time between two open-loop ticks, ms. */
const MIN_TICK_PERIOD_MS = 0.1;
/** Longest time between two open-loop ticks, ms. */
const MAX_TICK_PERIOD_MS = 5;
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
const Role = {
  /** Receives and checks every delivery; may also publish (hubbub). */
  Receiver: 0,
  /** Joins and then only reads, without checking. */
  Idle: 1,
  /** Only publishes (Redis: a subscribed connection cannot PUBLISH). */
  PublishOnly: 2,
  /** Joins the test's room and then stops reading until the run ends. */
  Stalled: 3,
} as const;
type RoleValue = typeof Role[keyof typeof Role];

function describeDisconnect(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.BrokenPipe) return "broken pipe";
  if (error instanceof Error) return error.message;
  return String(error);
}

/** One socket of the shard, with its read buffer and parser state. */
class Connection implements StreamSink, Connectable {
  readonly shard: Shard;
  readonly role: RoleValue;
  /** Index among the shard's receivers (the checker's), -1 if none. */
  receiver = -1;
  /** The publisher that writes on (or beside) this connection, if any. */
  publisher: Publisher | null = null;
  conn: ByteConnection | null = null;
  /** The id the server issued (hubbub). */
  id = 0;
  isJoined = false;
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

  constructor(shard: Shard, role: RoleValue) {
    this.shard = shard;
    this.role = role;
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
        shard.nowMicroseconds = payloadMicroseconds(now);
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

  joined(id: number): void {
    if (this.isJoined) return;
    this.isJoined = true;
    this.id = id;
    const waiter = this.#joinWaiter;
    this.#joinWaiter = null;
    waiter?.resolve();
  }

  delivered(
    view: DataView,
    payloadOffset: number,
    payloadLength: number,
    senderId: number,
  ): void {
    const shard = this.shard;
    if (this.receiver < 0) return;
    const counters = shard.counters;
    counters.received(payloadLength);
    if (payloadLength < PAYLOAD_HEADER_SIZE) {
      counters.unexpectedDelivery();
      return;
    }
    const now = shard.nowMicroseconds;
    if (!readPayloadFields(view, payloadOffset, now)) {
      counters.unexpectedDelivery();
      return;
    }
    const { publisher, sequence } = payloadFields;
    const intended = payloadFields.intendedMicroseconds;
    if (publisher >= shard.publisherIndexes) {
      counters.unexpectedDelivery();
      return;
    }
    if (senderId >= 0) {
      const issued = shard.senderIds[publisher];
      if (issued !== senderId) {
        if (issued === 0) shard.senderIds[publisher] = senderId;
        else counters.wrongSenderId();
      }
    }
    shard.checker!.record(this.receiver, publisher, sequence);
    counters.latency(
      now - intended,
      intended >= shard.measureFromMicroseconds &&
        intended < shard.publishUntilMicroseconds,
    );
    if (shard.inMeasuredWindow) counters.measuredPayload(payloadLength);
    const local = shard.localPublishers[publisher];
    if (local !== undefined) {
      if (local.awaitingServerRead) local.serverRead(sequence);
      local.received(sequence);
    }
  }

  newerTagSeen(): void {
    if (this.newerTags) return;
    this.newerTags = true;
    // A publisher waiting for the server to read its frame may go on, coalesced.
    this.publisher?.serverRead(-1);
  }

  serverError(text: string): void {
    this.#lastServerError = text;
    if (this.role !== Role.Stalled) this.shard.counters.serverError(text);
  }

  publishRefused(): void {
    this.shard.counters.refusalNotice();
    // Closed loop: a refused message never comes back; free its slot.
    this.publisher?.acknowledge();
  }

  pinged(reply: Uint8Array): void {
    const conn = this.conn;
    // A publishing connection talks often enough to count as alive, and its
    // writes must not interleave with a PONG; others answer.
    if (conn === null || this.publisher !== null) return;
    this.#pongs = this.#pongs.then(() => writeAll(conn, reply)).catch(
      () => {},
    );
  }

  probeAnswered(): void {
    this.#probeAnswers++;
    if (this.#probing && this.#probeAnswers >= this.#probesSent) {
      this.answeredProbe = true;
      this.settle();
    }
  }

  publishAcknowledged(receivers: number): void {
    if (receivers < this.shard.subscribers) {
      this.shard.counters.publishReplyMismatch();
    }
  }
}

/** One publisher: its schedule, its send buffer and its window. */
class Publisher {
  readonly shard: Shard;
  /** The payload's publisher index. */
  readonly index: number;
  /** Where its messages are written. */
  readonly connection: Connection;
  /** Messages in flight (closed loop). */
  outstanding = 0;
  /** Next sequence number to send; also the number sent so far. */
  nextSequence = 0;
  /** Open loop: sequence numbers below this are due within the run. */
  lastSequence = 0;
  /** Open loop: intended time of sequence 0. */
  firstIntended = 0;
  /** Open loop: ms between two messages. */
  interval = 0;
  pumpQueued = false;
  /**
   * Original-server mode (the connection has seen no newer tag): the last
   * message sent has reached no receiver of this worker yet, so the server
   * may not have read it, and the next one waits (the original handles one
   * frame per `read()`; a second frame in the same read would wait for the
   * next one).
   */
  awaitingServerRead = false;
  #lastSentSequence = 0;
  #serverReadTimer: ReturnType<typeof setTimeout> | undefined;
  #writing = false;
  #failed = false;
  #buffer: Uint8Array;
  #view: DataView;
  #slotSize: number;
  #payloadOffset: number;
  #capacity: number;
  /** Closed loop: receivers that got each in-flight sequence (by sequence % window). */
  #receivedBy: Int32Array | null = null;

  constructor(shard: Shard, index: number, connection: Connection) {
    this.shard = shard;
    this.index = index;
    this.connection = connection;
    const target = shard.target;
    const size = shard.plan.size;
    this.#slotSize = target.messageSize(size);
    this.#payloadOffset = target.payloadOffset(size);
    this.#capacity = Math.max(
      1,
      Math.floor(SEND_BUFFER_BYTES / this.#slotSize),
    );
    if (shard.plan.rate === 0) {
      this.#capacity = Math.min(this.#capacity, shard.plan.window);
      this.#receivedBy = new Int32Array(shard.plan.window);
    }
    this.#buffer = new Uint8Array(this.#capacity * this.#slotSize);
    this.#view = new DataView(this.#buffer.buffer);
    for (let slot = 0; slot < this.#capacity; slot++) {
      target.writeMessageTemplate(this.#buffer, slot * this.#slotSize, size);
    }
  }

  get busy(): boolean {
    return this.#writing;
  }

  get active(): boolean {
    return !this.#failed && this.connection.open;
  }

  /**
   * Closed loop: a receiver of this shard got message `sequence`. Once every
   * receiver of the shard has it, its window slot opens again, so no
   * receiver can fall behind by more than the window (a publisher that only
   * waited for its own copy would let slower receivers lag without bound).
   */
  received(sequence: number): void {
    const counts = this.#receivedBy;
    if (counts === null) return;
    const slot = sequence % counts.length;
    if (++counts[slot] >= this.shard.receiversToAck) {
      counts[slot] = 0;
      this.acknowledge();
    }
  }

  /** Closed loop: a receiver left; messages all others have are done. */
  receiversChanged(): void {
    const counts = this.#receivedBy;
    if (counts === null) return;
    for (let slot = 0; slot < counts.length; slot++) {
      if (counts[slot] > 0 && counts[slot] >= this.shard.receiversToAck) {
        counts[slot] = 0;
        this.acknowledge();
      }
    }
  }

  /** Closed loop: one of this publisher's messages is done (or refused). */
  acknowledge(): void {
    if (this.outstanding > 0) this.outstanding--;
    this.#queuePump();
  }

  /**
   * Original-server mode: message `sequence` reached a receiver (-1: stop
   * waiting), so the server has read it and the next may go.
   */
  serverRead(sequence: number): void {
    if (!this.awaitingServerRead) return;
    if (sequence >= 0 && sequence < this.#lastSentSequence) return;
    this.awaitingServerRead = false;
    clearTimeout(this.#serverReadTimer);
    this.#queuePump();
  }

  #queuePump(): void {
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      this.shard.pumpQueue.push(this);
    }
  }

  /** Send what is due, batch by batch, until nothing more is. */
  async pump(): Promise<void> {
    if (this.#writing || this.#failed) return;
    const conn = this.connection.conn;
    if (conn === null) return;
    this.#writing = true;
    try {
      for (;;) {
        if (this.awaitingServerRead) break;
        // Until the server shows it is not the original: one frame a write,
        // and none before a receiver has the last one.
        const original = !this.connection.newerTags;
        const count = this.#fill(
          sharedClockMs(),
          original ? 1 : this.#capacity,
        );
        if (count === 0) break;
        if (original) {
          this.awaitingServerRead = true;
          this.#lastSentSequence = this.nextSequence - 1;
          this.#serverReadTimer = setTimeout(() => {
            this.serverRead(-1);
            this.shard.runPumps();
          }, SERVER_READ_WAIT_MS);
        }
        await writeAll(conn, this.#buffer.subarray(0, count * this.#slotSize));
      }
    } catch (error) {
      this.#failed = true;
      this.shard.counters.sendFailure(describeDisconnect(error));
    } finally {
      this.#writing = false;
    }
    this.shard.publisherSettled();
  }

  /**
   * Fill the send buffer with the messages due now, at most `capacity`;
   * returns how many.
   */
  #fill(now: number, capacity: number): number {
    const shard = this.shard;
    const view = this.#view;
    const slotSize = this.#slotSize;
    let count: number;
    let measured = 0;
    let offset = this.#payloadOffset;
    let sequence = this.nextSequence;
    if (shard.plan.rate > 0) {
      if (now < this.firstIntended || now >= shard.sendBacklogUntil) return 0;
      const due = Math.min(
        Math.floor((now - this.firstIntended) / this.interval) + 1,
        this.lastSequence,
      );
      count = Math.min(due - sequence, capacity);
      if (count > 0) {
        shard.counters.sendLag(
          now - (this.firstIntended + sequence * this.interval),
        );
      }
      for (let slot = 0; slot < count; slot++, sequence++) {
        const intended = payloadMicroseconds(
          this.firstIntended + sequence * this.interval,
        );
        writePayload(view, offset, this.index, sequence, intended);
        // The receivers' test, on the value they read.
        if (
          intended >= shard.measureFromMicroseconds &&
          intended < shard.publishUntilMicroseconds
        ) {
          measured++;
        }
        offset += slotSize;
      }
    } else {
      if (now >= shard.publishUntil || now < shard.loadStart) return 0;
      const intended = payloadMicroseconds(now);
      count = Math.min(shard.plan.window - this.outstanding, capacity);
      const inWindow = intended >= shard.measureFromMicroseconds &&
        intended < shard.publishUntilMicroseconds;
      for (let slot = 0; slot < count; slot++, sequence++) {
        writePayload(view, offset, this.index, sequence, intended);
        offset += slotSize;
      }
      this.outstanding += count;
      if (inWindow) measured = count;
    }
    if (count <= 0) return 0;
    this.nextSequence = sequence;
    shard.counters.published(count, measured);
    return count;
  }
}

/**
 * A worker's connections and publishers, driven by messages from the main
 * thread: `plan` (connect), `start` (publish on a schedule), `stop`,
 * `published-totals` (drain), `finish` (report totals and close).
 */
export class Shard {
  readonly plan: ShardPlan;
  readonly target: Target;
  /** Size of the publisher index space. */
  readonly publisherIndexes: number;
  /** Subscribers a Redis PUBLISH should reach at least. */
  readonly subscribers: number;
  /** Issued id of each publisher index, 0 until known. */
  senderIds: Float64Array;
  /** This shard's publishers by payload index. */
  localPublishers: (Publisher | undefined)[] = [];
  /**
   * Closed loop: receivers of this shard that must get a message before its
   * publisher's window slot opens again (the joined ones still open).
   */
  receiversToAck = 0;
  checker: DeliveryChecker | null = null;
  /** What this worker counts. */
  readonly counters: ShardCounters = new ShardCounters();
  /** Shared-clock time of the read being parsed, whole microseconds. */
  nowMicroseconds = 0;
  loadStart = Infinity;
  measureFrom = Infinity;
  publishUntil = Infinity;
  /** The measured window as payload times (see `payloadMicroseconds`). */
  measureFromMicroseconds = Infinity;
  publishUntilMicroseconds = Infinity;
  sendBacklogUntil = Infinity;
  pumpQueue: Publisher[] = [];
  /** Whether the read being parsed arrived in the measured window. */
  inMeasuredWindow = false;
  /** Drain: some open receiver still lacks a message. */
  draining = false;
  /** True once the stalled connections read again (end of the run). */
  releasing = false;
  #post: (message: FromShard) => void;
  #receivers: Connection[] = [];
  #idle: Connection[] = [];
  #stalled: Connection[] = [];
  #publishers: Publisher[] = [];
  #allConnections: Connection[] = [];
  #connectLoop: ConnectLoop;
  #stopping = false;
  #tick = 0;
  #tickTimer: ReturnType<typeof setTimeout> | undefined;
  #ticker: { port: MessagePort; cell: Int32Array } | null = null;
  #tickerPort: MessagePort | null;
  #tickCpu = -1;
  #loadCpu = -1;
  #published: number[] | null = null;
  /** Drain: open receivers that lack some message. */
  #lacking = 0;

  /**
   * @param plan What this worker is to do.
   * @param post Sends a message to the main thread.
   * @param tickerPort Open loop: the channel to this shard's ticker thread.
   */
  constructor(
    plan: ShardPlan,
    post: (message: FromShard) => void,
    tickerPort: MessagePort | null = null,
  ) {
    this.plan = plan;
    this.#tickerPort = tickerPort;
    this.#post = post;
    this.target = targetNamed(plan.target, plan.channel, plan.token);
    this.publisherIndexes = plan.publisherIndexes;
    this.subscribers = plan.clients + plan.idle;
    this.senderIds = new Float64Array(plan.publisherIndexes);
    this.#connectLoop = new ConnectLoop(plan, this.target);
  }

  /**
   * Handle a message from the main thread.
   *
   * @param message The message.
   */
  handle(message: ToShard): void {
    switch (message.kind) {
      case "plan":
        break;
      case "start":
        this.#start(message.schedule);
        break;
      case "stop":
        this.#stopPublishing();
        break;
      case "published-totals":
        this.#startDrain(message.published);
        break;
      case "finish": {
        // The load phase's CPU ends here, before the stalled connections
        // read their backlog.
        const cpu = threadCpuSeconds();
        this.#releaseStalled().then(() => this.#finish(cpu));
        break;
      }
    }
  }

  /** Open this worker's connections, then report `connected`. */
  async connect(): Promise<void> {
    const plan = this.plan;
    this.#tickCpu = threadCpuSeconds();
    this.#scheduleTick();
    for (let index = plan.shard; index < plan.clients; index += plan.shards) {
      const connection = new Connection(this, Role.Receiver);
      this.#receivers.push(connection);
      this.#allConnections.push(connection);
      if (index < plan.publishers) {
        const payloadIndex = plan.publisherOffset + index;
        const writer = this.target.separatePublishConnection
          ? new Connection(this, Role.PublishOnly)
          : connection;
        if (writer !== connection) this.#allConnections.push(writer);
        const publisher = new Publisher(this, payloadIndex, writer);
        connection.publisher = publisher;
        this.localPublishers[payloadIndex] = publisher;
        this.#publishers.push(publisher);
      }
    }
    const totalConnections = plan.clients + plan.idle;
    for (
      let index = plan.clients + this.#firstIdleOffset();
      index < totalConnections;
      index += plan.shards
    ) {
      const connection = new Connection(this, Role.Idle);
      this.#idle.push(connection);
      this.#allConnections.push(connection);
    }
    for (let index = plan.shard; index < plan.stalled; index += plan.shards) {
      const connection = new Connection(this, Role.Stalled);
      this.#stalled.push(connection);
      this.#allConnections.push(connection);
    }
    const runners: Promise<void>[] = [
      this.#connectLoop.run(this.#allConnections, () => this.#stopping),
    ];
    if (this.#tickerPort !== null) {
      runners.push(this.#startTicker(this.#tickerPort));
    }
    await Promise.all(runners);
    // Receivers that joined get checker indexes, in order.
    let receiver = 0;
    for (const connection of this.#receivers) {
      if (connection.isJoined) connection.receiver = receiver++;
    }
    const senderIds: [number, number][] = [];
    if (this.target.stampsSender) {
      for (const publisher of this.#publishers) {
        if (publisher.active) {
          senderIds.push([publisher.index, publisher.connection.id]);
        }
      }
    }
    this.#post({
      kind: "connected",
      connected: this.#connectLoop.connected,
      failed: this.#allConnections.length - this.#connectLoop.connected,
      senderIds,
    });
  }

  /** Offset of this shard's first idle connection after the receivers. */
  #firstIdleOffset(): number {
    const { clients, shard, shards } = this.plan;
    return (shard - (clients % shards) + shards) % shards;
  }

  #start(schedule: LoadSchedule): void {
    const plan = this.plan;
    this.loadStart = schedule.start;
    this.measureFrom = schedule.measureFrom;
    this.publishUntil = schedule.publishUntil;
    this.measureFromMicroseconds = payloadMicroseconds(schedule.measureFrom);
    this.publishUntilMicroseconds = payloadMicroseconds(schedule.publishUntil);
    this.sendBacklogUntil = plan.rate > 0 ? schedule.sendBacklogUntil : 0;
    for (let index = 0; index < schedule.senderIds.length; index++) {
      this.senderIds[index] = schedule.senderIds[index];
    }
    const receivers = this.#receivers.filter((c) => c.receiver >= 0).length;
    this.checker = new DeliveryChecker(receivers, plan.publisherIndexes);
    this.receiversToAck = receivers;
    this.#loadCpu = threadCpuSeconds();
    const publishers = this.#publishers.filter((p) => p.active);
    if (plan.rate > 0) {
      const perPublisher = plan.rate / plan.publishers;
      const interval = 1000 / perPublisher;
      for (const publisher of publishers) {
        const local = publisher.index - plan.publisherOffset;
        publisher.interval = interval;
        publisher.firstIntended = schedule.start +
          (local / plan.publishers) * interval;
        publisher.lastSequence = Math.max(
          0,
          Math.ceil(
            (schedule.publishUntil - publisher.firstIntended) / interval,
          ),
        );
      }
      this.#runScheduler();
    } else {
      // Only acknowledgements pump a closed loop again, so the first pump
      // must not come before the start, or a publisher would send nothing.
      callAtSharedTime(schedule.start, () => {
        for (const publisher of publishers) publisher.pump();
      });
    }
    // Report what was published at the backlog's deadline, unless the
    // publishers, settling one by one, finish sooner.
    callAtSharedTime(
      Math.max(schedule.publishUntil, this.sendBacklogUntil),
      () => this.#reportPublishedWhenIdle(),
    );
  }

  /**
   * Open loop: a ticker thread wakes the shard at each message's due time
   * (or every 0.1 ms at high rates) and each publisher sends what is due.
   */
  #runScheduler(): void {
    const ticker = this.#ticker;
    if (ticker === null) return;
    const period = Math.min(
      MAX_TICK_PERIOD_MS,
      Math.max(MIN_TICK_PERIOD_MS, 1000 / this.plan.rate),
    );
    ticker.port.postMessage(
      {
        cells: ticker.cell.buffer as SharedArrayBuffer,
        start: this.loadStart,
        period,
        until: this.sendBacklogUntil,
      } satisfies TickerPlan,
    );
  }

  /**
   * Open loop: connect to the ticker thread; resolves once it is ready.
   *
   * @param port This shard's end of the channel to its ticker.
   */
  #startTicker(port: MessagePort): Promise<void> {
    const publishers = this.#publishers;
    const cell = new Int32Array(new SharedArrayBuffer(8));
    const ready = Promise.withResolvers<void>();
    this.#ticker = { port, cell };
    port.onmessage = (event: MessageEvent<number>) => {
      if (event.data === -2) {
        ready.resolve();
        return;
      }
      if (event.data < 0) {
        this.#stopTicker();
        return;
      }
      for (const publisher of publishers) {
        if (
          publisher.active && !publisher.busy &&
          publisher.nextSequence < publisher.lastSequence
        ) {
          publisher.pump();
        }
      }
      Atomics.store(cell, 1, 0);
    };
    return ready.promise;
  }

  #stopTicker(): void {
    const ticker = this.#ticker;
    if (ticker === null) return;
    this.#ticker = null;
    Atomics.store(ticker.cell, 0, 1);
    Atomics.notify(ticker.cell, 0);
    ticker.port.close();
  }

  #stopPublishing(): void {
    const now = sharedClockMs();
    if (now >= this.publishUntil) return;
    this.publishUntil = Math.max(now, this.loadStart);
    this.publishUntilMicroseconds = payloadMicroseconds(this.publishUntil);
    for (const publisher of this.#publishers) {
      if (publisher.interval > 0) {
        publisher.lastSequence = Math.min(
          publisher.lastSequence,
          Math.max(
            publisher.nextSequence,
            Math.ceil(
              (this.publishUntil - publisher.firstIntended) /
                publisher.interval,
            ),
          ),
        );
      }
    }
    this.sendBacklogUntil = Math.min(this.sendBacklogUntil, now + 1000);
    this.#reportPublishedWhenIdle();
  }

  #reportedPublished = false;
  /** Publishing time is over: each publisher that settles may be the last. */
  #publishingOver = false;

  /**
   * A publisher finished a write, or failed, or its connection ended: after
   * the publishing time, the last one to settle reports what was published.
   */
  publisherSettled(): void {
    if (this.#publishingOver) this.#reportPublishedWhenIdle();
  }

  /**
   * Once every publisher has sent what it was to send (open loop: its
   * backlog, until the deadline) and has no write in flight, tell the main
   * thread what was published.
   */
  #reportPublishedWhenIdle(): void {
    if (this.#reportedPublished) return;
    const now = sharedClockMs();
    if (now < this.publishUntil) {
      callAtSharedTime(
        this.publishUntil,
        () => this.#reportPublishedWhenIdle(),
      );
      return;
    }
    this.#publishingOver = true;
    if (
      this.plan.rate > 0 && now < this.sendBacklogUntil &&
      !this.#publishers.every((p) =>
        !p.active || (p.nextSequence >= p.lastSequence && !p.busy)
      )
    ) {
      return;
    }
    if (this.#publishers.some((p) => p.busy)) return;
    this.#reportedPublished = true;
    this.#stopTicker();
    const highestSeen: number[] = [];
    for (let index = 0; index < this.publisherIndexes; index++) {
      highestSeen.push(this.checker?.highestSeen(index) ?? 0);
    }
    this.#post({
      kind: "published",
      published: this.#publishers.map((p) => [p.index, p.nextSequence]),
      highestSeen,
    });
  }

  /**
   * Drain: once the published totals are known, count the open receivers
   * that lack something; each read of one of them, and each end of one,
   * may bring the count to zero (see {@linkcode Shard.receiverRead}).
   */
  #startDrain(published: number[]): void {
    if (this.#stopping) return;
    this.#published = published;
    const checker = this.checker!;
    for (const connection of this.#receivers) {
      if (connection.receiver < 0 || !connection.open) continue;
      if (checker.isComplete(connection.receiver, published)) continue;
      connection.lacking = true;
      this.#lacking++;
    }
    this.draining = this.#lacking > 0;
    if (!this.draining) this.#post({ kind: "drained" });
  }

  /**
   * Drain: a receiver read something, or ended; report `drained` when it
   * was the last open receiver that lacked something.
   *
   * @param connection The receiver.
   */
  receiverRead(connection: Connection): void {
    if (!connection.lacking || this.#stopping) return;
    if (
      connection.open &&
      !this.checker!.isComplete(connection.receiver, this.#published!)
    ) {
      return;
    }
    connection.lacking = false;
    if (--this.#lacking > 0) return;
    this.draining = false;
    this.#post({ kind: "drained" });
  }

  /** Run the publishers whose window opened during the last read. */
  runPumps(): void {
    const queue = this.pumpQueue;
    for (let i = 0; i < queue.length; i++) {
      const publisher = queue[i];
      publisher.pumpQueued = false;
      publisher.pump();
    }
    queue.length = 0;
  }

  /**
   * End of the run: let the stalled connections read again and probe the
   * server on each, and wait until each has ended, had its answer, or gone
   * {@linkcode STALLED_SILENCE_MS} without data. Those without an answer
   * count as dropped: closed, or silent (the kernel can give up on a dropped
   * connection's orphaned socket without an end of stream).
   */
  async #releaseStalled(): Promise<void> {
    const stalled = this.#stalled;
    if (stalled.length === 0) return;
    this.releasing = true;
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

  /** A connection ended: count it unless the shard is closing. */
  connectionEnded(
    connection: Connection,
    error: unknown,
    closedReason: string,
  ): void {
    if (this.#stopping) return;
    // An ended connection no longer holds up the drain, nor the report of
    // what was published.
    this.receiverRead(connection);
    this.publisherSettled();
    if (!connection.isJoined) return;
    // Expected of a server with a slow-consumer policy; not a failure.
    if (connection.role === Role.Stalled) return;
    if (connection.receiver >= 0 && this.receiversToAck > 0) {
      // One receiver fewer to wait for: release what it was holding up.
      this.receiversToAck--;
      for (const publisher of this.#publishers) publisher.receiversChanged();
    }
    this.counters.disconnect(
      error === null ? closedReason : describeDisconnect(error),
    );
  }

  #openConnections(): number {
    let open = 0;
    for (const connection of this.#allConnections) {
      if (connection.open && connection.role !== Role.PublishOnly) open++;
    }
    return open;
  }

  #scheduleTick(): void {
    const due = this.plan.origin + (this.#tick + 1) * 1000;
    this.#tickTimer = setTimeout(
      () => this.#emitTick(),
      Math.max(0, due - sharedClockMs()),
    );
  }

  #emitTick(): void {
    const cpu = threadCpuSeconds();
    const report: TickReport = {
      tick: this.#tick,
      connections: this.#openConnections(),
      ...this.counters.tick(),
      cpuSeconds: cpu < 0 || this.#tickCpu < 0 ? -1 : cpu - this.#tickCpu,
    };
    this.#tickCpu = cpu;
    this.#tick++;
    this.#post({ kind: "tick", report });
    if (!this.#stopping) this.#scheduleTick();
  }

  /**
   * Messages of this worker's publishers that no receiver of the worker got,
   * counted for publishers whose own connection is open to the end (it
   * receives every message the server relays).
   */
  #unrelayed(published: number[]): number {
    const checker = this.checker;
    if (checker === null || !this.target.stampsSender) return 0;
    let count = 0;
    for (const publisher of this.#publishers) {
      const own = publisher.connection;
      if (!own.open || own.receiver < 0) continue;
      count += checker.unreceived(
        publisher.index,
        published[publisher.index] ?? 0,
        own.receiver,
      );
    }
    return count;
  }

  /** @param cpu This thread's CPU seconds when the load phase ended. */
  #finish(cpu: number): void {
    this.#stopping = true;
    this.#stopTicker();
    if (this.#tickTimer !== undefined) clearTimeout(this.#tickTimer);
    const published = this.#published ?? [];
    const checker = this.checker;
    const receivers = checker?.receivers ?? 0;
    let publishedTotal = 0;
    for (const count of published) publishedTotal += count;
    const totals: ShardTotals = {
      ...this.counters.totals(),
      ...this.#connectLoop.totals(),
      stalled: this.#stalled.filter((connection) => connection.isJoined)
        .length,
      stalledDropped:
        this.#stalled.filter((connection) =>
          connection.isJoined && !connection.answeredProbe
        ).length,
      originalProtocolPublishers:
        this.#publishers.filter((publisher) => !publisher.connection.newerTags)
          .length,
      unsent: this.#publishers.reduce(
        (sum, p) => sum + Math.max(0, p.lastSequence - p.nextSequence),
        0,
      ),
      expected: publishedTotal * receivers,
      lost: checker?.lost(published) ?? 0,
      duplicates: checker?.duplicates ?? 0,
      reordered: checker?.reordered ?? 0,
      cpuSeconds: cpu < 0 || this.#loadCpu < 0 ? -1 : cpu - this.#loadCpu,
      unrelayed: this.#unrelayed(published),
    };
    for (const connection of this.#allConnections) connection.close();
    this.counters.destroy();
    this.#connectLoop.destroy();
    this.#post({ kind: "totals", totals });
  }
}
