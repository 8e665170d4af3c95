/**
 * The load generator's publishers and how they are paced. A
 * {@linkcode Publisher} owns a send buffer of message templates and writes
 * batches of them on its connection; a {@linkcode PublishLoop} decides when:
 *
 * - {@linkcode OpenLoop}: each message has an intended time on a fixed
 *   schedule (`--rate`), and a ticker thread wakes the worker to send what is
 *   due; a late message keeps its intended time, so latency counts the lag.
 * - {@linkcode ClosedLoop}: each publisher keeps `--window` messages in
 *   flight; a message's slot opens again once every receiver of the worker
 *   has it.
 *
 * {@linkcode publishLoopFor} is the one place that chooses between them.
 *
 * @module
 */

import type { LoadSchedule, ShardPlan } from "./_messages.ts";
import type { TickerPlan } from "./_ticker_worker.ts";
import { writeAll } from "./_write_all.ts";
import { type Connection, describeDisconnect } from "./connection.ts";
import type { ShardCounters } from "./counters.ts";
import {
  callAtSharedTime,
  payloadMicroseconds,
  sharedClockMs,
  writePayload,
} from "./payload.ts";
import type { Target } from "./targets/target.ts";

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

/** What a publisher reads of its worker (the shard), and calls back. */
export interface PublisherOwner {
  /** What the worker is to do. */
  readonly plan: ShardPlan;
  /** The server's wire format. */
  readonly target: Target;
  /** What the worker counts. */
  readonly counters: ShardCounters;
  /** Shared-clock time publishing starts, ms. */
  readonly loadStart: number;
  /** Shared-clock time publishing stops, ms. */
  readonly publishUntil: number;
  /** The measured window's start as a payload time. */
  readonly measureFromMicroseconds: number;
  /** The measured window's end as a payload time. */
  readonly publishUntilMicroseconds: number;
  /**
   * Closed loop: receivers of the worker that must get a message before its
   * publisher's window slot opens again.
   */
  readonly receiversToAck: number;
  /** Publishers to run after the current read. */
  readonly pumpQueue: Publisher[];
  /** Run the publishers of {@linkcode PublisherOwner.pumpQueue}. */
  runPumps(): void;
  /** A publisher finished a write, or failed. */
  publisherSettled(): void;
}

/**
 * One publisher: its send buffer, its write loop and the original-server
 * handshake; its pacing is its subclass's ({@linkcode OpenLoopPublisher},
 * {@linkcode ClosedLoopPublisher}).
 */
export abstract class Publisher {
  /** The worker. */
  readonly shard: PublisherOwner;
  /** The payload's publisher index. */
  readonly index: number;
  /** Where its messages are written. */
  readonly connection: Connection;
  /** Next sequence number to send; also the number sent so far. */
  nextSequence = 0;
  /** Whether it waits in {@linkcode PublisherOwner.pumpQueue}. */
  pumpQueued = false;
  /**
   * Original-server mode (the connection has seen no newer tag): the last
   * message sent has reached no receiver of this worker yet, so the server
   * may not have read it, and the next one waits (the original handles one
   * frame per `read()`; a second frame in the same read would wait for the
   * next one).
   */
  awaitingServerRead = false;
  /** A view over the send buffer, where the subclass's fill writes. */
  protected readonly view: DataView;
  /** Bytes of one message. */
  protected readonly slotSize: number;
  /** Offset of the first message's payload. */
  protected readonly payloadOffset: number;
  #lastSentSequence = 0;
  #serverReadTimer: ReturnType<typeof setTimeout> | undefined;
  #writing = false;
  #failed = false;
  #buffer: Uint8Array;
  #capacity: number;

  /**
   * @param shard The worker.
   * @param index The payload's publisher index.
   * @param connection Where its messages are written.
   * @param maxBatch Most messages one write may hold.
   */
  constructor(
    shard: PublisherOwner,
    index: number,
    connection: Connection,
    maxBatch: number,
  ) {
    this.shard = shard;
    this.index = index;
    this.connection = connection;
    const target = shard.target;
    const size = shard.plan.size;
    this.slotSize = target.messageSize(size);
    this.payloadOffset = target.payloadOffset(size);
    this.#capacity = Math.min(
      Math.max(1, Math.floor(SEND_BUFFER_BYTES / this.slotSize)),
      maxBatch,
    );
    this.#buffer = new Uint8Array(this.#capacity * this.slotSize);
    this.view = new DataView(this.#buffer.buffer);
    for (let slot = 0; slot < this.#capacity; slot++) {
      target.writeMessageTemplate(this.#buffer, slot * this.slotSize, size);
    }
  }

  /** Whether a write is in flight. */
  get busy(): boolean {
    return this.#writing;
  }

  /** Whether it can still send: no write failed and its connection is open. */
  get active(): boolean {
    return !this.#failed && this.connection.open;
  }

  /** Open loop: messages that were due within the run and not sent. */
  get unsent(): number {
    return 0;
  }

  /**
   * A receiver of this worker got message `sequence` (on every delivery:
   * keep it small).
   *
   * @param _sequence The message's sequence number.
   */
  received(_sequence: number): void {}

  /** A receiver left, so fewer must have each message. */
  receiversChanged(): void {}

  /** One of this publisher's messages is done, or was refused. */
  acknowledge(): void {
    this.queuePump();
  }

  /**
   * Original-server mode: message `sequence` reached a receiver (-1: stop
   * waiting), so the server has read it and the next may go.
   *
   * @param sequence The message's sequence number, or -1.
   */
  serverRead(sequence: number): void {
    if (!this.awaitingServerRead) return;
    if (sequence >= 0 && sequence < this.#lastSentSequence) return;
    this.awaitingServerRead = false;
    clearTimeout(this.#serverReadTimer);
    this.queuePump();
  }

  /** Have the worker run this publisher after the current read. */
  protected queuePump(): void {
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
        const count = this.fill(
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
        await writeAll(conn, this.#buffer.subarray(0, count * this.slotSize));
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
   * Write the messages due now, at most `capacity`, into the send buffer's
   * first slots, advance {@linkcode Publisher.nextSequence} and count them.
   *
   * @param now Shared-clock time, ms.
   * @param capacity Most messages to write.
   * @returns How many.
   */
  protected abstract fill(now: number, capacity: number): number;
}

/** An open-loop publisher: messages at fixed intervals from its first. */
export class OpenLoopPublisher extends Publisher {
  /** Sequence numbers below this are due within the run. */
  lastSequence = 0;
  /** Intended time of sequence 0. */
  firstIntended = 0;
  /** Ms between two messages; 0 until scheduled. */
  interval = 0;
  #loop: OpenLoop;

  /**
   * @param shard The worker.
   * @param loop The loop that paces it (its backlog deadline).
   * @param index The payload's publisher index.
   * @param connection Where its messages are written.
   */
  constructor(
    shard: PublisherOwner,
    loop: OpenLoop,
    index: number,
    connection: Connection,
  ) {
    super(shard, index, connection, Infinity);
    this.#loop = loop;
  }

  /** Messages that were due within the run and not sent. */
  override get unsent(): number {
    return Math.max(0, this.lastSequence - this.nextSequence);
  }

  /**
   * Publishing ends earlier: send nothing due at or after `until` (what was
   * sent stays sent).
   *
   * @param until Shared-clock time, ms.
   */
  stopAt(until: number): void {
    if (this.interval <= 0) return;
    this.lastSequence = Math.min(
      this.lastSequence,
      Math.max(
        this.nextSequence,
        Math.ceil((until - this.firstIntended) / this.interval),
      ),
    );
  }

  protected override fill(now: number, capacity: number): number {
    const shard = this.shard;
    const view = this.view;
    const slotSize = this.slotSize;
    let measured = 0;
    let offset = this.payloadOffset;
    let sequence = this.nextSequence;
    if (now < this.firstIntended || now >= this.#loop.backlogUntil) return 0;
    const due = Math.min(
      Math.floor((now - this.firstIntended) / this.interval) + 1,
      this.lastSequence,
    );
    const count = Math.min(due - sequence, capacity);
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
    if (count <= 0) return 0;
    this.nextSequence = sequence;
    shard.counters.published(count, measured);
    return count;
  }
}

/** A closed-loop publisher: a window of messages in flight. */
export class ClosedLoopPublisher extends Publisher {
  /** Messages in flight. */
  outstanding = 0;
  /** Receivers that got each in-flight sequence (by sequence % window). */
  #receivedBy: Int32Array;

  /**
   * @param shard The worker.
   * @param index The payload's publisher index.
   * @param connection Where its messages are written.
   */
  constructor(shard: PublisherOwner, index: number, connection: Connection) {
    super(shard, index, connection, shard.plan.window);
    this.#receivedBy = new Int32Array(shard.plan.window);
  }

  /**
   * A receiver of this worker got message `sequence`. Once every receiver of
   * the worker has it, its window slot opens again, so no receiver can fall
   * behind by more than the window (a publisher that only waited for its own
   * copy would let slower receivers lag without bound).
   *
   * @param sequence The message's sequence number.
   */
  override received(sequence: number): void {
    const counts = this.#receivedBy;
    const slot = sequence % counts.length;
    if (++counts[slot] >= this.shard.receiversToAck) {
      counts[slot] = 0;
      this.acknowledge();
    }
  }

  /** A receiver left; messages all others have are done. */
  override receiversChanged(): void {
    const counts = this.#receivedBy;
    for (let slot = 0; slot < counts.length; slot++) {
      if (counts[slot] > 0 && counts[slot] >= this.shard.receiversToAck) {
        counts[slot] = 0;
        this.acknowledge();
      }
    }
  }

  /** One of this publisher's messages is done (or refused): free its slot. */
  override acknowledge(): void {
    if (this.outstanding > 0) this.outstanding--;
    this.queuePump();
  }

  protected override fill(now: number, capacity: number): number {
    const shard = this.shard;
    const view = this.view;
    const slotSize = this.slotSize;
    let offset = this.payloadOffset;
    let sequence = this.nextSequence;
    if (now >= shard.publishUntil || now < shard.loadStart) return 0;
    const intended = payloadMicroseconds(now);
    const count = Math.min(shard.plan.window - this.outstanding, capacity);
    const inWindow = intended >= shard.measureFromMicroseconds &&
      intended < shard.publishUntilMicroseconds;
    for (let slot = 0; slot < count; slot++, sequence++) {
      writePayload(view, offset, this.index, sequence, intended);
      offset += slotSize;
    }
    this.outstanding += count;
    const measured = inWindow ? count : 0;
    if (count <= 0) return 0;
    this.nextSequence = sequence;
    shard.counters.published(count, measured);
    return count;
  }
}

/**
 * How a worker's publishers are paced: {@linkcode OpenLoop} or
 * {@linkcode ClosedLoop}, chosen by {@linkcode publishLoopFor}.
 */
export interface PublishLoop {
  /** The worker's publishers, in the order they were added. */
  readonly publishers: readonly Publisher[];
  /**
   * Make a publisher.
   *
   * @param index The payload's publisher index.
   * @param connection Where its messages are written.
   * @returns The publisher.
   */
  add(index: number, connection: Connection): Publisher;
  /** Resolves once publishing can start (open loop: the ticker is ready). */
  ready(): Promise<void>;
  /**
   * Start the active publishers on the schedule.
   *
   * @param schedule The load phase's timing.
   * @returns The latest time sending may go on, ms.
   */
  start(schedule: LoadSchedule): number;
  /**
   * Publishing was cut short: the owner's `publishUntil` moved earlier.
   *
   * @param now Shared-clock time, ms.
   */
  cutShort(now: number): void;
  /**
   * Whether a publisher may still send messages that were due (open loop: a
   * backlog, until its deadline), so the report of what was published waits.
   *
   * @param now Shared-clock time, ms.
   */
  sendingBacklog(now: number): boolean;
  /** Stop pacing (open loop: stop the ticker thread). */
  stop(): void;
}

/**
 * The open loop: each publisher sends at `rate / publishers` messages per
 * second from a start staggered across the worker's publishers; a ticker
 * thread wakes the worker at each message's due time (or every 0.1 ms at
 * high rates) and each publisher sends what is due, until the backlog's
 * deadline.
 */
export class OpenLoop implements PublishLoop {
  /** The worker's publishers. */
  readonly publishers: OpenLoopPublisher[] = [];
  /** No message is sent at or after this time (the backlog's deadline). */
  backlogUntil = Infinity;
  #shard: PublisherOwner;
  #tickerPort: MessagePort | null;
  #ticker: { port: MessagePort; cell: Int32Array } | null = null;

  /**
   * @param shard The worker.
   * @param tickerPort The channel to the worker's ticker thread.
   */
  constructor(shard: PublisherOwner, tickerPort: MessagePort | null) {
    this.#shard = shard;
    this.#tickerPort = tickerPort;
  }

  /** See {@linkcode PublishLoop.add}. */
  add(index: number, connection: Connection): Publisher {
    const publisher = new OpenLoopPublisher(
      this.#shard,
      this,
      index,
      connection,
    );
    this.publishers.push(publisher);
    return publisher;
  }

  /** Connect to the ticker thread; resolves once it is ready. */
  ready(): Promise<void> {
    const port = this.#tickerPort;
    if (port === null) return Promise.resolve();
    const publishers = this.publishers;
    const cell = new Int32Array(new SharedArrayBuffer(8));
    const ready = Promise.withResolvers<void>();
    this.#ticker = { port, cell };
    port.onmessage = (event: MessageEvent<number>) => {
      if (event.data === -2) {
        ready.resolve();
        return;
      }
      if (event.data < 0) {
        this.stop();
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

  /** See {@linkcode PublishLoop.start}. */
  start(schedule: LoadSchedule): number {
    const plan = this.#shard.plan;
    this.backlogUntil = schedule.sendBacklogUntil;
    const perPublisher = plan.rate / plan.publishers;
    const interval = 1000 / perPublisher;
    for (const publisher of this.publishers) {
      if (!publisher.active) continue;
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
    this.#runTicker(schedule.start);
    return Math.max(schedule.publishUntil, this.backlogUntil);
  }

  /** See {@linkcode PublishLoop.cutShort}. */
  cutShort(now: number): void {
    const until = this.#shard.publishUntil;
    for (const publisher of this.publishers) publisher.stopAt(until);
    this.backlogUntil = Math.min(this.backlogUntil, now + 1000);
  }

  /** See {@linkcode PublishLoop.sendingBacklog}. */
  sendingBacklog(now: number): boolean {
    return now < this.backlogUntil &&
      !this.publishers.every((p) =>
        !p.active || (p.nextSequence >= p.lastSequence && !p.busy)
      );
  }

  /** Stop the ticker thread. */
  stop(): void {
    const ticker = this.#ticker;
    if (ticker === null) return;
    this.#ticker = null;
    Atomics.store(ticker.cell, 0, 1);
    Atomics.notify(ticker.cell, 0);
    ticker.port.close();
  }

  /** Have the ticker tick from `start` until the backlog's deadline. */
  #runTicker(start: number): void {
    const ticker = this.#ticker;
    if (ticker === null) return;
    const period = Math.min(
      MAX_TICK_PERIOD_MS,
      Math.max(MIN_TICK_PERIOD_MS, 1000 / this.#shard.plan.rate),
    );
    ticker.port.postMessage(
      {
        cells: ticker.cell.buffer as SharedArrayBuffer,
        start,
        period,
        until: this.backlogUntil,
      } satisfies TickerPlan,
    );
  }
}

/**
 * The closed loop: each publisher fills its window at the start, and again
 * each time receivers acknowledge (every receiver of the worker has a
 * message), until publishing stops.
 */
export class ClosedLoop implements PublishLoop {
  /** The worker's publishers. */
  readonly publishers: ClosedLoopPublisher[] = [];
  #shard: PublisherOwner;

  /** @param shard The worker. */
  constructor(shard: PublisherOwner) {
    this.#shard = shard;
  }

  /** See {@linkcode PublishLoop.add}. */
  add(index: number, connection: Connection): Publisher {
    const publisher = new ClosedLoopPublisher(this.#shard, index, connection);
    this.publishers.push(publisher);
    return publisher;
  }

  /** Nothing to wait for. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  /** See {@linkcode PublishLoop.start}. */
  start(schedule: LoadSchedule): number {
    const publishers = this.publishers.filter((p) => p.active);
    // Only acknowledgements pump a closed loop again, so the first pump
    // must not come before the start, or a publisher would send nothing.
    callAtSharedTime(schedule.start, () => {
      for (const publisher of publishers) publisher.pump();
    });
    return schedule.publishUntil;
  }

  /** Nothing to do: the publishers read the owner's `publishUntil`. */
  cutShort(_now: number): void {}

  /** Never: a closed loop has no backlog. */
  sendingBacklog(_now: number): boolean {
    return false;
  }

  /** Nothing to stop. */
  stop(): void {}
}

/**
 * Choose the worker's pacing: the open loop when the plan has a rate, else
 * the closed loop.
 *
 * @param shard The worker.
 * @param tickerPort Open loop: the channel to the worker's ticker thread.
 * @returns The loop.
 */
export function publishLoopFor(
  shard: PublisherOwner,
  tickerPort: MessagePort | null,
): PublishLoop {
  return shard.plan.rate > 0
    ? new OpenLoop(shard, tickerPort)
    : new ClosedLoop(shard);
}
