import {
  encodeFrame,
  HEADER_SIZE,
  readBodyLength,
  readTag,
  Tag,
  writeSenderId,
} from "../protocol/mod.ts";
import { Channel } from "./channel.ts";
import { Connection, ConnectionState } from "./connection.ts";
import type { HubEvent } from "./events.ts";
import type { Logger } from "./logger.ts";
import { Metrics } from "./metrics.ts";
import type { Room } from "./room.ts";
import { RoomDirectory } from "./room_directory.ts";
import type { RoomPresence } from "./room_presence.ts";
import { NicknameIndex } from "./nickname_index.ts";
import {
  type Farewell,
  INTERNAL_ERROR,
  peerGone,
  protocolViolation,
  shuttingDown,
} from "./farewell.ts";
import {
  type RequestContext,
  requestHandler,
  sendHistoryAnswer,
} from "./requests/mod.ts";
import type { ClusterBackend, ClusterHub } from "./cluster_hub.ts";
import type { HistoryStore } from "./history/mod.ts";
import { declaresHubbub } from "./original_client.ts";
import type { Outbox } from "./outbox.ts";
import type { RoomBus } from "./room_bus.ts";
import type { HandshakeAllowance } from "./handshake_allowance.ts";
import {
  type Admission,
  type AdmissionVerdict,
  AWAIT_AUTH,
  HANDSHAKE_TIMED_OUT,
  REGISTER,
} from "./admission.ts";
import { Verdict, type VerdictValue } from "./frame_budget.ts";
import type { RateLimits } from "./rate_limits.ts";
import { type Clock, systemClock } from "./clock.ts";
import { STALL_HEARTBEAT_MS, StallClock } from "./stall_clock.ts";
import { Keepalive, SEND_PING } from "./keepalive.ts";
import type { HubOptions } from "./settings.ts";
import type { HubGauges } from "./hub_gauges.ts";
import { Housekeeping, tickPeriod } from "./housekeeping.ts";
import type { ShutdownDrain } from "./shutdown_drain.ts";
import { logDrop, logInternalError, wireHub } from "./_hub_wiring.ts";

/**
 * The central event handler. It alone owns the client registry, the id
 * counter, the rooms and the nicknames, and it handles events strictly in
 * order, one batch per wake-up, without ever awaiting: fan-out is a copy
 * into each member's {@linkcode ClientWriter} through the
 * {@linkcode Outbox}, which decides after each batch when the writers with
 * something queued are flushed. A slow client therefore never delays anyone
 * else.
 *
 * Readers post to {@linkcode Hub.inbox}; {@linkcode Hub.run} consumes it.
 */
export class Hub {
  /** Where readers, transports and the server post events for the hub. */
  readonly inbox: Channel<HubEvent>;
  /** Counters for stats and metrics. */
  readonly metrics: Metrics = new Metrics();
  /** When the hub started (milliseconds since the epoch). */
  readonly startedAt: number = Date.now();
  /**
   * Places for connections in their handshake: the hub's awaiting AUTH and
   * the server's TLS handshakes share them.
   */
  readonly handshakes: HandshakeAllowance;
  /** The clock of everything the hub times; writers and readers use it too. */
  readonly clock: Clock;
  /** Counts of the hub's state now, for `/stats`, `/metrics` and tests. */
  readonly gauges: HubGauges;
  /** Where relayed CHAT is recorded (its counters for /metrics); `null`: off. */
  readonly history: HistoryStore | null;
  /** Cluster mode's node (its counters for /metrics); `null`: single server. */
  readonly cluster: ClusterBackend | null;
  #options: HubOptions;
  #logger: Logger;
  #clients = new Map<number, Connection>();
  /** Who becomes a client: cap, connection rate, AUTH. */
  #admission: Admission;
  /** Waits at shutdown for the last frames of dropped clients to leave. */
  #drain: ShutdownDrain;
  #nicknames = new NicknameIndex();
  #rooms = new RoomDirectory();
  #presence: RoomPresence;
  /** What requests (JOIN, NICK, …) see of the hub. */
  #requests: RequestContext;
  #nextId = 1;
  #stopping = false;
  /** The hub clock's time at the start of the batch being handled. */
  #now: number;
  /** Frames into clients' queues, and when the queues are written. */
  #outbox: Outbox;
  /** Orders each room's CHAT (message ids) and hands it back for delivery. */
  #bus: RoomBus;
  /** Cluster mode (`--redis`); `null`: a single server. */
  #cluster: ClusterHub | null;
  /** Frame budgets, notices, floods. */
  #rateLimits: RateLimits;
  /** When the server could not read (see `TokenBucket.take`). */
  #stalls: StallClock;
  /** PING to silent clients, idle and frame deadlines. */
  #keepalive: Keepalive;
  /** What each tick asks of every client: keepalive, the write deadline. */
  #housekeeping: Housekeeping;

  /** @param options Limits, timers and the logger. */
  constructor(options: HubOptions) {
    this.#options = options;
    const logger = this.#logger = options.logger;
    const clock = this.clock = options.clock ?? systemClock;
    this.#now = clock.now();
    this.#stalls = new StallClock(STALL_HEARTBEAT_MS, this.#now);
    this.#keepalive = new Keepalive(options, this.#stalls);
    this.#housekeeping = new Housekeeping(
      this.#keepalive,
      options.writeDeadlineMs,
    );
    this.inbox = new Channel<HubEvent>(options.inputHighWater);
    this.history = options.history ?? null;
    this.cluster = options.cluster ?? null;
    const wired = wireHub(options, {
      clock,
      metrics: this.metrics,
      inbox: this.inbox,
      logger,
      rooms: this.#rooms,
      nicknames: this.#nicknames,
      clients: this.#clients,
      stalls: this.#stalls,
      history: this.history,
      cluster: this.cluster,
      // The local bus calls it at once, within `#publish`.
      deliver: (room, frames, count, firstId) =>
        this.#deliver(room, frames, count, firstId),
      drop: (client, farewell) => this.#drop(client, farewell),
      refuse: (client, tag, reason) => this.#refuse(client, tag, reason),
    });
    this.#outbox = wired.outbox;
    this.#cluster = wired.cluster;
    this.#bus = wired.bus;
    this.#presence = wired.presence;
    this.#requests = wired.requests;
    this.handshakes = wired.handshakes;
    this.#admission = wired.admission;
    this.#rateLimits = wired.rateLimits;
    this.#drain = wired.drain;
    this.gauges = wired.gauges;
  }

  /** The registered clients, in registration order. Read-only use. */
  clients(): IterableIterator<Connection> {
    return this.#clients.values();
  }

  /**
   * Handle events until the inbox is closed and drained.
   *
   * @returns A promise that settles when the inbox is closed.
   */
  async run(): Promise<void> {
    const channel = this.inbox;
    const metrics = this.metrics;
    const clock = this.clock;
    const stopTicks = clock.every(
      tickPeriod(this.#options),
      () => channel.push({ kind: "tick" }),
    );
    const stalls = this.#stalls;
    const stopHeartbeat = stalls.beat(clock);
    try {
      for (;;) {
        const batch = await channel.receive();
        if (batch === null) return;
        const started = clock.now();
        this.#now = started;
        // Before any frame: those read after a pause must see it.
        stalls.observe(started);
        for (let i = 0; i < batch.length; i++) {
          try {
            this.#handle(batch[i]);
          } catch (error) {
            this.#onInternalError(batch[i], error);
          }
        }
        // A shared bus sends the batch's messages now (one call per room).
        this.#bus.endBatch();
        this.#outbox.endBatch(started);
        metrics.batches++;
        metrics.events += batch.length;
        metrics.batchSeconds.observe((clock.now() - started) / 1000);
      }
    } finally {
      stopTicks();
      stopHeartbeat();
      this.#outbox.close();
    }
  }

  #handle(event: HubEvent): void {
    switch (event.kind) {
      case "frames":
        this.#onFrames(event.client, event.bytes, event.end);
        break;
      case "connect":
        this.#onConnect(event.client);
        break;
      case "violation":
        this.#drop(event.client, protocolViolation(event.reason));
        break;
      case "gone":
        this.#drop(event.client, peerGone(event.detail, event.endOfInput));
        break;
      case "history":
        sendHistoryAnswer(this.#requests, event.client, event.answer);
        break;
      case "bus":
        this.#deliver(event.room, event.frames, event.count, event.firstId);
        break;
      case "cluster":
        this.#cluster?.handle(event.event);
        break;
      case "tick":
        this.#onTick();
        break;
      case "shutdown":
        this.#onShutdown(event.reason, event.graceMs, event.done);
        break;
    }
  }

  /**
   * A bug surfaced while handling an event: log it with its stack, and drop
   * the client concerned so that the hub itself carries on.
   */
  #onInternalError(event: HubEvent, error: unknown): void {
    logInternalError(this.#logger, event.kind, error);
    if ("client" in event) this.#drop(event.client, INTERNAL_ERROR);
  }

  #onConnect(client: Connection): void {
    this.metrics.connects++;
    if (this.#stopping) {
      client.state = ConnectionState.Closed;
      client.writer.close();
      return;
    }
    const now = this.#now;
    this.#keepalive.seen(client, now);
    const size = this.#clients.size;
    const verdict = this.#admission.admit(client, size, now, this.#stalls);
    this.#admitted(client, verdict);
  }

  /** Carry out what admission says of a newcomer or its first frame. */
  #admitted(client: Connection, verdict: AdmissionVerdict): void {
    if (verdict === REGISTER) this.#register(client);
    else if (verdict !== AWAIT_AUTH) this.#drop(client, verdict);
  }

  /** Issue an id, put the client in the lobby, and say so. */
  #register(client: Connection): void {
    const id = this.#cluster === null ? this.#nextId++ : this.#cluster.nextId();
    client.id = id;
    client.state = ConnectionState.Open;
    this.#clients.set(id, client);
    this.#outbox.send(client, encodeFrame(Tag.ISSUE_ID, id));
    this.#presence.enter(client, this.#rooms.lobby.name);
    this.#logger.info("Client connected", {
      id,
      address: client.transport.remoteAddress,
    });
  }

  /**
   * Handle a chunk of whole frames. Runs of consecutive CHAT frames are
   * stamped with the sender's id in place and fanned out as one copy per
   * recipient; any other frame ends the run and is handled on its own.
   */
  #onFrames(client: Connection, bytes: Uint8Array, end: number): void {
    if (client.state === ConnectionState.Closed) {
      // Read before the shutdown closed the connection, never to be relayed.
      if (this.#stopping) this.#drain.unrelayed(bytes, end);
      return;
    }
    const now = this.#now;
    this.#keepalive.seen(client, now);
    let offset = 0;
    let frames = 0;
    if (client.state === ConnectionState.Connecting) {
      this.#admitted(
        client,
        this.#admission.authenticate(client, bytes, this.#clients.size),
      );
      offset = HEADER_SIZE + readBodyLength(bytes, 0);
      frames = 1;
    }
    const budget = this.#rateLimits.budget(client, now);
    const stalls = this.#stalls;
    let runStart = -1;
    let runFrames = 0;
    while (offset < end && client.state === ConnectionState.Open) {
      const bodyLength = readBodyLength(bytes, offset);
      const frameEnd = offset + HEADER_SIZE + bodyLength;
      const tag = readTag(bytes, offset);
      frames++;
      const verdict = budget === null
        ? Verdict.Allowed
        : budget.take(tag, now, stalls);
      if (tag === Tag.CHAT && verdict === Verdict.Allowed) {
        writeSenderId(bytes, offset, client.id);
        if (runStart < 0) runStart = offset;
        runFrames++;
      } else {
        if (runStart >= 0) {
          this.#publish(client, bytes, runStart, offset, runFrames);
          runStart = -1;
          runFrames = 0;
        }
        if (client.original && declaresHubbub(tag)) {
          this.#presence.declareHubbub(client, tag);
        }
        if (verdict !== Verdict.Allowed) {
          this.#onRateLimited(client, tag, verdict);
        }
        // A CLOSE over its budget is still honoured: it frees the connection.
        if (verdict === Verdict.Allowed || tag === Tag.CLOSE) {
          const body = bytes.subarray(offset + HEADER_SIZE, frameEnd);
          this.#onControlFrame(client, tag, body);
        }
      }
      offset = frameEnd;
    }
    if (runStart >= 0 && client.state === ConnectionState.Open) {
      this.#publish(client, bytes, runStart, offset, runFrames);
    }
    client.framesIn += frames;
    client.bytesIn += end;
    this.metrics.framesIn += frames;
    this.metrics.bytesIn += end;
    client.returnReadBuffer(bytes);
  }

  /** A frame other than CHAT: the request of its tag, if any, applies it. */
  #onControlFrame(client: Connection, tag: number, body: Uint8Array): void {
    const handle = requestHandler(tag);
    if (handle !== undefined) handle(this.#requests, client, body);
  }

  #refuse(client: Connection, tag: number, reason: string): void {
    this.#outbox.send(client, encodeFrame(Tag.ERROR, tag, reason));
  }

  /** A frame dropped over a rate limit: a notice now and then, or a flood's drop. */
  #onRateLimited(client: Connection, tag: number, verdict: VerdictValue): void {
    const due = this.#rateLimits.dropped(client, verdict, this.#now);
    if (typeof due === "string") this.#refuse(client, tag, due);
    else if (due !== null) this.#drop(client, due);
  }

  /**
   * Relay `frames` whole CHAT frames of `client`, `bytes[start..end)`, to
   * its room: through the {@linkcode RoomBus}, which gives them their
   * message ids and hands them back, the sender's echo included, to
   * `#deliver` (at once on the local bus; after the round trip on a
   * backplane).
   */
  #publish(
    client: Connection,
    bytes: Uint8Array,
    start: number,
    end: number,
    frames: number,
  ): void {
    this.metrics.chatsRelayed += frames;
    // The bus records the run in history (SQLite, or the room's stream).
    this.#bus.publish(
      client.room!,
      bytes.subarray(start, end),
      frames,
      client.nickname,
      Date.now(),
    );
  }

  /**
   * Messages the bus has ordered, ids `firstId`...: one copy to each member
   * of the room (the bus records them in history).
   */
  #deliver(
    room: Room,
    frames: Uint8Array,
    count: number,
    firstId: number,
  ): void {
    this.#cluster?.delivering(room, firstId, count);
    this.metrics.deliveries += count * room.members.length;
    this.#outbox.deliver(room.members, frames, count);
  }

  /** Keepalive, handshake and write deadlines, and idle buffer release. */
  #onTick(): void {
    const now = this.#now;
    this.#outbox.tick(now);
    for (const client of this.#admission.expire(now)) {
      this.#drop(client, HANDSHAKE_TIMED_OUT);
    }
    for (const client of [...this.#clients.values()]) {
      const due = this.#housekeeping.check(client, now);
      if (due !== null && due !== SEND_PING) {
        this.#drop(client, due);
      } else {
        if (due === SEND_PING) {
          this.#outbox.send(client, encodeFrame(Tag.PING, 0));
        }
        client.writer.trim();
        client.trimReadBuffer();
      }
    }
  }

  /** Remove a client from the hub, say goodbye, and close it. */
  #drop(client: Connection, farewell: Farewell): void {
    if (client.state === ConnectionState.Closed) return;
    const wasOpen = client.state === ConnectionState.Open;
    client.state = ConnectionState.Closed;
    this.#admission.release(client);
    if (wasOpen) {
      this.#clients.delete(client.id);
      this.#nicknames.release(client);
      this.#presence.exit(client, !this.#stopping);
      this.#cluster?.dropped(client);
    }
    this.metrics.countDisconnect(farewell.reason);
    if (this.#outbox.farewell(client, farewell, this.#options.lingerMs)) {
      // Its last frames are still leaving: shutdown must wait for them too.
      this.#drain.lingering(client);
    }
    logDrop(this.#logger, client, wasOpen, farewell);
  }

  /** Drop everyone with CLOSE `reason`, then drain (see {@linkcode ShutdownDrain}). */
  #onShutdown(reason: string, graceMs: number, done: () => void): void {
    this.#stopping = true;
    const everyone = [...this.#admission.awaiting(), ...this.#clients.values()];
    const farewell = shuttingDown(reason, graceMs);
    for (const client of everyone) this.#drop(client, farewell);
    // Everyone still closing, clients dropped earlier included, closes once
    // flushed or when the grace period runs out.
    this.#drain.start(graceMs, done);
  }
}
