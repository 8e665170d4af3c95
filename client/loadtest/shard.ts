/**
 * One worker's share of a load test: it owns its connections
 * (`connection.ts`), their connect loop (`connect_loop.ts`), its publishers
 * and their pacing (`publisher.ts`) and its counters (`counters.ts`), holds
 * the run's schedule that they all read, and runs the phases the main thread
 * asks for: connect, publish, stop, drain, finish. Runs inside a worker
 * thread (see `worker.ts`); talks to the main thread only through the
 * messages of `_messages.ts`.
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
import { ConnectLoop } from "./connect_loop.ts";
import {
  Connection,
  type ConnectionOwner,
  describeDisconnect,
  resumeAndProbeAll,
  Role,
} from "./connection.ts";
import { ShardCounters } from "./counters.ts";
import { DeliveryChecker } from "./delivery_checker.ts";
import { OrderHashes } from "./order_check.ts";
import {
  callAtSharedTime,
  payloadMicroseconds,
  PayloadReader,
  sharedClockMs,
} from "./payload.ts";
import {
  type Publisher,
  type PublisherOwner,
  type PublishLoop,
  publishLoopFor,
} from "./publisher.ts";
import { targetNamed } from "./targets/mod.ts";
import type { Target } from "./targets/target.ts";

/**
 * A worker's connections and publishers, driven by messages from the main
 * thread: `plan` (connect), `start` (publish on a schedule), `stop`,
 * `published-totals` (drain), `finish` (report totals and close).
 */
export class Shard implements ConnectionOwner, PublisherOwner {
  /** What this worker is to do. */
  readonly plan: ShardPlan;
  /** The server's wire format. */
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
  /** The exact accounting of deliveries, once the load starts. */
  checker: DeliveryChecker | null = null;
  /** Each receiver's order hash, once the load starts. */
  orders: OrderHashes | null = null;
  /** What this worker counts. */
  readonly counters: ShardCounters = new ShardCounters();
  /** Reads the payloads of the read being parsed. */
  readonly payloads: PayloadReader = new PayloadReader();
  /** Shared-clock time publishing starts, ms (see `LoadSchedule`). */
  loadStart = Infinity;
  /** When the warmup ends and measurement starts. */
  measureFrom = Infinity;
  /** When publishing stops. */
  publishUntil = Infinity;
  /** The measured window as payload times (see `payloadMicroseconds`). */
  measureFromMicroseconds = Infinity;
  /** The end of the measured window as a payload time. */
  publishUntilMicroseconds = Infinity;
  /** Publishers whose window opened during the read being parsed. */
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
  #allConnections: Connection[] = [];
  #connectLoop: ConnectLoop;
  /** The publishers and their pacing (open or closed loop). */
  #loop: PublishLoop;
  #stopping = false;
  #tick = 0;
  #tickTimer: ReturnType<typeof setTimeout> | undefined;
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
    this.#post = post;
    this.target = targetNamed(plan.target, plan.channel, plan.token);
    this.publisherIndexes = plan.publisherIndexes;
    this.subscribers = plan.clients + plan.idle;
    this.senderIds = new Float64Array(plan.publisherIndexes);
    this.#connectLoop = new ConnectLoop(plan, this.target);
    this.#loop = publishLoopFor(this, tickerPort);
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
    const nodes = plan.endpoints.length;
    for (let index = plan.shard; index < plan.clients; index += plan.shards) {
      const connection = new Connection(this, Role.Receiver, index % nodes);
      this.#receivers.push(connection);
      this.#allConnections.push(connection);
      if (index < plan.publishers) {
        const payloadIndex = plan.publisherOffset + index;
        const writer = this.target.separatePublishConnection
          ? new Connection(this, Role.PublishOnly, index % nodes)
          : connection;
        if (writer !== connection) this.#allConnections.push(writer);
        const publisher = this.#loop.add(payloadIndex, writer);
        connection.publisher = publisher;
        this.localPublishers[payloadIndex] = publisher;
      }
    }
    const totalConnections = plan.clients + plan.idle;
    for (
      let index = plan.clients + this.#firstIdleOffset();
      index < totalConnections;
      index += plan.shards
    ) {
      const connection = new Connection(this, Role.Idle, index % nodes);
      this.#idle.push(connection);
      this.#allConnections.push(connection);
    }
    for (let index = plan.shard; index < plan.stalled; index += plan.shards) {
      const connection = new Connection(
        this,
        Role.Stalled,
        (totalConnections + index) % nodes,
      );
      this.#stalled.push(connection);
      this.#allConnections.push(connection);
    }
    await Promise.all([
      this.#connectLoop.run(this.#allConnections, () => this.#stopping),
      this.#loop.ready(),
    ]);
    // Receivers that joined get checker indexes, in order.
    let receiver = 0;
    for (const connection of this.#receivers) {
      if (connection.isJoined) connection.receiver = receiver++;
    }
    const senderIds: [number, number][] = [];
    if (this.target.stampsSender) {
      for (const publisher of this.#loop.publishers) {
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
    for (let index = 0; index < schedule.senderIds.length; index++) {
      this.senderIds[index] = schedule.senderIds[index];
    }
    const receivers = this.#receivers.filter((c) => c.receiver >= 0).length;
    this.checker = new DeliveryChecker(receivers, plan.publisherIndexes);
    this.orders = new OrderHashes(receivers);
    this.receiversToAck = receivers;
    this.#loadCpu = threadCpuSeconds();
    const sendingUntil = this.#loop.start(schedule);
    // Report what was published once sending may be over, unless the
    // publishers, settling one by one, finish sooner.
    callAtSharedTime(sendingUntil, () => this.#reportPublishedWhenIdle());
  }

  #stopPublishing(): void {
    const now = sharedClockMs();
    if (now >= this.publishUntil) return;
    this.publishUntil = Math.max(now, this.loadStart);
    this.publishUntilMicroseconds = payloadMicroseconds(this.publishUntil);
    this.#loop.cutShort(now);
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
    if (this.#loop.sendingBacklog(now)) return;
    const publishers = this.#loop.publishers;
    if (publishers.some((p) => p.busy)) return;
    this.#reportedPublished = true;
    this.#loop.stop();
    const highestSeen: number[] = [];
    for (let index = 0; index < this.publisherIndexes; index++) {
      highestSeen.push(this.checker?.highestSeen(index) ?? 0);
    }
    this.#post({
      kind: "published",
      published: publishers.map((p) => [p.index, p.nextSequence]),
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

  /** End of the run: the stalled connections read again and are probed. */
  async #releaseStalled(): Promise<void> {
    const stalled = this.#stalled;
    if (stalled.length === 0) return;
    this.releasing = true;
    await resumeAndProbeAll(stalled);
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
      for (const publisher of this.#loop.publishers) {
        publisher.receiversChanged();
      }
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
    for (const publisher of this.#loop.publishers) {
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

  /** The single-order check's groups of this worker's receivers. */
  #orderGroups(published: number[]): ShardTotals["order"] {
    const checker = this.checker;
    const orders = this.orders;
    if (checker === null || orders === null) return { groups: [], excluded: 0 };
    const open = new Array<boolean>(checker.receivers).fill(false);
    for (const connection of this.#receivers) {
      if (connection.receiver >= 0) open[connection.receiver] = connection.open;
    }
    return orders.groups(checker, published, (receiver) => open[receiver]);
  }

  /** @param cpu This thread's CPU seconds when the load phase ended. */
  #finish(cpu: number): void {
    this.#stopping = true;
    this.#loop.stop();
    if (this.#tickTimer !== undefined) clearTimeout(this.#tickTimer);
    const published = this.#published ?? [];
    const checker = this.checker;
    const receivers = checker?.receivers ?? 0;
    let publishedTotal = 0;
    for (const count of published) publishedTotal += count;
    const publishers = this.#loop.publishers;
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
        publishers.filter((publisher) => !publisher.connection.newerTags)
          .length,
      unsent: publishers.reduce((sum, p) => sum + p.unsent, 0),
      expected: publishedTotal * receivers,
      lost: checker?.lost(published) ?? 0,
      duplicates: checker?.duplicates ?? 0,
      reordered: checker?.reordered ?? 0,
      cpuSeconds: cpu < 0 || this.#loadCpu < 0 ? -1 : cpu - this.#loadCpu,
      unrelayed: this.#unrelayed(published),
      order: this.#orderGroups(published),
    };
    for (const connection of this.#allConnections) connection.close();
    this.counters.destroy();
    this.#connectLoop.destroy();
    this.#post({ kind: "totals", totals });
  }
}
