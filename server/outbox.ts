/**
 * The hub's output: frames into clients' queues, and when the queues are
 * written.
 *
 * @module
 */

import { encodeFrame, readTag, Tag } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import type { Clock, ClockTimer } from "./clock.ts";
import { DisconnectReason } from "./events.ts";
import type { Farewell } from "./farewell.ts";
import { FlushPolicy } from "./flush_policy.ts";
import { originalClientReceives } from "./original_client.ts";

/** Settings of an {@linkcode Outbox}. */
export interface OutboxOptions {
  /**
   * Bound of each client's queue in bytes (its writer's); a queue past a
   * quarter of it is written at once, held back or not.
   */
  maxPendingBytes: number;
  /** See {@linkcode FlushPolicy}; 0 never holds output back. */
  coalesceWriteRate: number;
  /** Times the flush holds and rounds. */
  clock: Clock;
  /** Where frames queued are counted (`framesOut`). */
  totals: { framesOut: number };
  /**
   * Called for each client whose queue refused a frame (its bound would be
   * passed): the hub drops it. Called after the copy to every other
   * recipient, never in the middle of a fan-out; frames queued from within
   * the call (a leave announced to the room) are handled the same way.
   */
  onSlowConsumer: (client: Connection) => void;
}

/**
 * Output scheduling for the hub. The hub hands it frames to queue, to a
 * room's members ({@linkcode Outbox.deliver}, {@linkcode Outbox.announce})
 * or to one client ({@linkcode Outbox.send}); each is a copy into the
 * clients' {@linkcode ClientWriter}s, never a write. At the end of each
 * batch of events ({@linkcode Outbox.endBatch}) it flushes every writer
 * that got something, at once or after what its {@linkcode FlushPolicy}
 * says to hold (a short coalescing delay while many small batches go to
 * many clients; the rest of the round interval while big rooms are busy).
 * The policy is told what each batch alone would cost to flush: the
 * clients that batch queued output to, not those still held from earlier
 * batches, so its holds do not feed its measurements. A client whose queue
 * passes a quarter of its bound is written at once regardless, so holding
 * frames back never makes a fast reader look like a slow consumer.
 *
 * It uses these members of {@linkcode Connection}, which only it changes:
 * `flushPending`, `lastBatch`, `framesOut` (and reads `original`).
 *
 * @example Usage
 * ```ts no-eval
 * const outbox = new Outbox({ maxPendingBytes: 1 << 20, coalesceWriteRate: 50_000,
 *   clock: systemClock, totals: metrics, onSlowConsumer: (client) => drop(client) });
 * outbox.deliver(room.members, frames, 3); // three CHAT frames, one copy per member
 * outbox.endBatch(clock.now());
 * ```
 */
export class Outbox {
  #clock: Clock;
  #totals: { framesOut: number };
  #onSlowConsumer: (client: Connection) => void;
  #policy: FlushPolicy;
  #timer: ClockTimer;
  #urgentBytes: number;
  /** Clients with something queued since their last flush. */
  #toFlush: Connection[] = [];
  /** Clients whose queue refused a frame, not handed to the hub yet. */
  #slow: Connection[] = [];
  /** When the last flush round began (clock ms). */
  #lastFlushAt = -Infinity;
  /** Number of the batch being handled (see `Connection.lastBatch`). */
  #batchNumber = 0;
  /** Distinct clients the batch being handled queued output to. */
  #batchRecipients = 0;
  /** CHAT messages delivered in the batch being handled. */
  #batchMessages = 0;

  /** @param options Bound, policy rate, clock, counters and the slow-consumer callback. */
  constructor(options: OutboxOptions) {
    this.#clock = options.clock;
    this.#totals = options.totals;
    this.#onSlowConsumer = options.onSlowConsumer;
    this.#urgentBytes = options.maxPendingBytes / 4;
    this.#policy = new FlushPolicy(options.coalesceWriteRate);
    this.#timer = options.clock.timer(() => this.#flushAll(), true);
  }

  /** True while output is held back briefly to batch writes (see {@linkcode FlushPolicy}). */
  get coalescing(): boolean {
    return this.#policy.coalescing;
  }

  /**
   * Shortest time between two flush rounds now, in ms: above 0 while big
   * rooms are busy (see {@linkcode FlushPolicy.roundInterval}).
   */
  get roundInterval(): number {
    return this.#policy.roundInterval;
  }

  /** Clients waiting for the next flush round. */
  get waiting(): number {
    return this.#toFlush.length;
  }

  /**
   * Queue a run of `count` whole CHAT frames for every member: one copy per
   * member, whoever they are (the original client receives CHAT too).
   *
   * @param members The recipients (a room's member list).
   * @param frames The frames; copied, so the caller may reuse the buffer.
   * @param count How many frames `frames` holds.
   */
  deliver(
    members: readonly Connection[],
    frames: Uint8Array,
    count: number,
  ): void {
    for (let i = 0; i < members.length; i++) {
      const member = members[i];
      if (member.writer.append(frames)) this.#queued(member, count);
      else this.#slow.push(member);
    }
    this.#batchMessages += count;
    this.#totals.framesOut += count * members.length;
    if (this.#slow.length > 0) this.#dropSlow();
  }

  /**
   * Queue one frame (a PRESENCE) for every member that is a hubbub client;
   * original clients get none.
   *
   * @param members The recipients (a room's member list).
   * @param frame The frame; copied.
   */
  announce(members: readonly Connection[], frame: Uint8Array): void {
    let sent = 0;
    for (let i = 0; i < members.length; i++) {
      const member = members[i];
      if (member.original) continue;
      if (member.writer.append(frame)) this.#queued(member, 1);
      else this.#slow.push(member);
      sent++;
    }
    this.#totals.framesOut += sent;
    if (this.#slow.length > 0) this.#dropSlow();
  }

  /**
   * Queue a frame for one client; an original client is sent only the tags
   * of the original protocol (its farewell goes through
   * {@linkcode Outbox.sendLast}). A full queue makes it a slow consumer at
   * once.
   *
   * @param client The recipient.
   * @param frame One whole frame; copied.
   */
  send(client: Connection, frame: Uint8Array): void {
    if (client.original && !originalClientReceives(readTag(frame, 0))) return;
    if (!client.writer.append(frame)) {
      this.#slow.push(client);
      this.#dropSlow();
      return;
    }
    this.#queued(client, 1);
    this.#totals.framesOut++;
  }

  /**
   * Queue a farewell frame (ERROR, CLOSE) even past the queue bound, so a
   * client dropped for a full queue still learns why; counted like others.
   * It leaves with the writer's closing flush, not a flush round.
   *
   * @param client The recipient, being dropped.
   * @param frame One whole frame; copied.
   */
  sendLast(client: Connection, frame: Uint8Array): void {
    if (client.writer.appendControl(frame)) {
      client.framesOut++;
      this.#totals.framesOut++;
    }
  }

  /**
   * The output side of dropping a client: a peer that is gone is closed at
   * once; otherwise the farewell's ERROR and CLOSE are queued past the bound
   * and the writer closes once flushed, or after the linger.
   *
   * @param client The client being dropped.
   * @param farewell How it is dropped.
   * @param lingerMs How long its last frames may take, unless the farewell says.
   * @returns True while its last frames are still leaving.
   */
  farewell(client: Connection, farewell: Farewell, lingerMs: number): boolean {
    const writer = client.writer;
    if (farewell.reason === DisconnectReason.Gone && !farewell.flushFirst) {
      writer.close();
      return false;
    }
    if (farewell.discardQueued) writer.discardQueued();
    if (farewell.error !== undefined) {
      this.sendLast(client, encodeFrame(Tag.ERROR, 0, farewell.error));
    }
    if (farewell.close !== undefined) {
      this.sendLast(client, encodeFrame(Tag.CLOSE, client.id, farewell.close));
    }
    writer.closeWhenFlushed(farewell.lingerMs ?? lingerMs);
    return !writer.closed;
  }

  /**
   * The batch of events is handled: flush every client with something
   * queued, now or once the policy's hold has passed.
   *
   * @param startedAt When the batch began (clock ms): the policy's window
   * clock.
   */
  endBatch(startedAt: number): void {
    const recipients = this.#batchRecipients;
    const messages = this.#batchMessages;
    this.#batchRecipients = 0;
    this.#batchMessages = 0;
    this.#batchNumber++;
    if (recipients > 0) {
      this.#policy.observeBatch(startedAt, messages, recipients);
    }
    if (this.#toFlush.length === 0 || this.#timer.scheduled) return;
    const delay = this.#policy.holdFor(this.#clock.now() - this.#lastFlushAt);
    if (delay > 0) this.#timer.schedule(delay);
    else this.#flushAll();
  }

  /**
   * Let the policy see time pass without batches (a quiet server stops
   * holding output back). Called on each hub tick.
   *
   * @param now The clock's time, ms.
   */
  tick(now: number): void {
    this.#policy.tick(now);
  }

  /** Cancel a pending hold and release its timer (the hub has stopped). */
  close(): void {
    this.#timer.close();
  }

  /**
   * Bookkeeping after `count` frames joined a client's queue: count it as
   * a recipient of this batch once, put it on the next flush round's list,
   * and write at once when its queue is already large.
   */
  #queued(client: Connection, count: number): void {
    client.framesOut += count;
    if (client.lastBatch !== this.#batchNumber) {
      client.lastBatch = this.#batchNumber;
      this.#batchRecipients++;
    }
    if (!client.flushPending) {
      client.flushPending = true;
      this.#toFlush.push(client);
    }
    if (client.writer.queuedBytes >= this.#urgentBytes) client.writer.flush();
  }

  #flushAll(): void {
    this.#lastFlushAt = this.#clock.now();
    const toFlush = this.#toFlush;
    for (let i = 0; i < toFlush.length; i++) {
      const client = toFlush[i];
      client.flushPending = false;
      client.writer.flush();
    }
    toFlush.length = 0;
  }

  /** Hand the slow consumers to the hub; those its drops make come next. */
  #dropSlow(): void {
    const slow = this.#slow;
    this.#slow = [];
    for (let i = 0; i < slow.length; i++) this.#onSlowConsumer(slow[i]);
  }
}
