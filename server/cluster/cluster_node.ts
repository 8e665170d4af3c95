/**
 * One hubbub node of a cluster, as the hub uses it (a
 * {@linkcode ClusterBackend}): its link to Redis, its node number and
 * client ids, the Redis bus, presence shared with the other nodes (a
 * channel per room), members and nicknames across nodes, the heartbeat,
 * and what a lost Redis does (logged once, a notice to every client,
 * unpublished messages and presence counted, everything recorded again
 * once back).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { encodeFrame, encodeJsonBody, LOBBY, Tag } from "../../protocol/mod.ts";
import type {
  ClusterBackend,
  ClusterClient,
  ClusterCounters,
  ClusterEvent,
} from "../cluster_hub.ts";
import { DELIVERY_INTERRUPTED, DELIVERY_RESTORED } from "../cluster_hub.ts";
import type { Connection } from "../connection.ts";
import type { Logger } from "../logger.ts";
import type { BusDelivery, RoomBus } from "../room_bus.ts";
import { HEARTBEAT_TTL_MS, NodeHeartbeat } from "./heartbeat.ts";
import { NODE_SEQ_KEY, roomKey } from "./keys.ts";
import { ClusterMembership } from "./membership.ts";
import type { RemovedMember, ScriptRunner } from "./membership_redis.ts";
import { claimNodeNumber, ClusterIds } from "./node_id.ts";
import { RedisBus } from "./redis_bus.ts";
import { type ClusterLink, connectCluster } from "./redis_link.ts";

/** Options of {@linkcode startClusterNode}. */
export interface ClusterNodeOptions {
  /** Where the node's lines go. */
  logger: Logger;
  /**
   * Expiry of the node's alive key, ms (a node silent this long is
   * reaped); it beats every fifth of it. Default 5000.
   */
  heartbeatTtlMs?: number;
  /** Approximate cap on each room's stream (history). */
  streamMaxLen?: number;
}

/** The channel of a room's presence between nodes. */
function presenceChannel(room: string): string {
  return roomKey(room, "presence");
}

/** Raise the node counter to at least ARGV[1] (after Redis lost it). */
const RAISE_NODE_SEQ = `
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
`;

/** Bytes before the frame in a presence message: the origin node. */
const ORIGIN_BYTES = 4;

/**
 * Connect to Redis and join the cluster: node number, heartbeat started.
 *
 * @param url The Redis URL.
 * @param options Logger, timings.
 * @returns The node.
 * @throws {Error} With one line naming the URL when Redis is unreachable.
 */
export async function startClusterNode(
  url: string,
  options: ClusterNodeOptions,
): Promise<ClusterNode> {
  const link = await connectCluster(url);
  try {
    const number = await claimNodeNumber(link.command);
    const node = new ClusterNode(link, number, options);
    await node.start();
    return node;
  } catch (error) {
    link.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot join the cluster at ${url}: ${reason}`);
  }
}

/** A node of the cluster; see the module doc. */
export class ClusterNode implements ClusterBackend, ClusterCounters {
  /** This node's number. */
  readonly number: number;
  /** This node's number (as the hub names it). */
  readonly node: number;
  /** The link to Redis. */
  readonly link: ClusterLink;
  #ids: ClusterIds;
  #membership: ClusterMembership;
  #heartbeat: NodeHeartbeat;
  #logger: Logger;
  #options: ClusterNodeOptions;
  #bus: RedisBus | null = null;
  #post: (event: ClusterEvent) => void = () => {};
  /** Presence channels this node receives, to their room names. */
  #watched = new Map<string, string>();
  #origin: Buffer;
  #connected = true;
  #unpublished = 0;
  #unpublishedPresence = 0;
  #errorLogged = false;
  #closed = false;
  /** Counters for `/metrics` (this node itself). */
  readonly counters: ClusterCounters = this;

  /** Use {@linkcode startClusterNode}. */
  constructor(link: ClusterLink, number: number, options: ClusterNodeOptions) {
    this.link = link;
    this.number = number;
    this.node = number;
    this.#options = options;
    this.#logger = options.logger;
    this.#ids = new ClusterIds(number);
    const redis = link.command as unknown as ScriptRunner;
    this.#membership = new ClusterMembership(
      redis,
      number,
      (error) => this.#commandFailed(error),
    );
    const ttlMs = options.heartbeatTtlMs ?? HEARTBEAT_TTL_MS;
    this.#heartbeat = new NodeHeartbeat(redis, number, {
      ttlMs,
      intervalMs: Math.max(10, Math.floor(ttlMs / 5)),
      onReaped: (removed) => this.#reaped(removed),
      onEvicted: () => this.#evicted(),
      onError: (error) => this.#commandFailed(error),
    });
    this.#origin = Buffer.alloc(ORIGIN_BYTES);
    this.#origin.writeUInt32BE(number);
    link.subscriber.on(
      "messageBuffer",
      (channel: Buffer, message: Buffer) => this.#onMessage(channel, message),
    );
    link.watch({
      lost: (reason) => this.#lost(reason),
      restored: () => this.#restored(),
    });
  }

  /** @internal Register with the first heartbeat. */
  start(): Promise<void> {
    return this.#heartbeat.start();
  }

  get connected(): boolean {
    return this.#connected;
  }

  get unpublished(): number {
    return this.#unpublished;
  }

  get unpublishedPresence(): number {
    return this.#unpublishedPresence;
  }

  get missed(): number {
    return this.#bus?.missedCount ?? 0;
  }

  nextId(): number {
    return this.#ids.next();
  }

  attach(deliver: BusDelivery, post: (event: ClusterEvent) => void): RoomBus {
    this.#post = post;
    this.#bus = new RedisBus(this.link, deliver, {
      node: this.number,
      streamMaxLen: this.#options.streamMaxLen,
      ready: (room, lastId) => post({ type: "ready", room, lastId }),
      unpublished: (count) => {
        this.#unpublished += count;
      },
      missed: (room, count) =>
        this.#logger.warn("Cross-node messages missed while Redis was lost", {
          room: room.name,
          count,
        }),
      error: (message) => this.#commandFailed(new Error(message)),
    });
    return this.#bus;
  }

  watchRoom(room: string): void {
    const channel = presenceChannel(room);
    this.#watched.set(channel, room);
    if (!this.link.isLost) {
      this.link.subscriber.subscribe(channel).catch(() => {});
    }
  }

  unwatchRoom(room: string): void {
    const channel = presenceChannel(room);
    this.#watched.delete(channel);
    if (!this.link.isLost) {
      this.link.subscriber.unsubscribe(channel).catch(() => {});
    }
  }

  publishPresence(room: string, frame: Uint8Array): void {
    this.#publishPresence(room, frame, this.#origin);
  }

  entered(id: number, room: string): void {
    if (!this.link.isLost) this.#membership.join(id, room);
  }

  removed(id: number): void {
    if (!this.link.isLost) this.#membership.remove(id);
  }

  claimNick(client: Connection, nickname: string): void {
    this.#membership.claimNick(client.id, nickname).then(
      (claim) =>
        this.#post({
          type: "nick",
          client,
          nickname,
          refused: claim.ok ? null : claim.reason,
        }),
      () => this.#unavailable(client, Tag.NICK),
    );
  }

  who(client: Connection, room: string): void {
    this.#membership.who(room).then(
      (entries) => this.#post({ type: "who", client, entries }),
      () => this.#unavailable(client, Tag.WHO),
    );
  }

  rooms(client: Connection): void {
    this.#membership.rooms([LOBBY]).then(
      (entries) => this.#post({ type: "rooms", client, entries }),
      () => this.#unavailable(client, Tag.ROOMS),
    );
  }

  restore(clients: ClusterClient[]): void {
    this.#membership.restore(clients).then(
      (taken) => {
        this.#logger.info("Cluster membership recorded again", {
          clients: clients.length,
          nicknames_lost: taken.length || undefined,
        });
        if (taken.length > 0) this.#post({ type: "nicks-lost", ids: taken });
      },
      (error) => this.#commandFailed(error),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat.stop();
    try {
      if (!this.link.isLost) {
        const removed = await this.#membership.leaveCluster();
        // Nobody here hears these; the other nodes' members do.
        this.#publishLeaves(removed, this.#origin);
        await this.link.command.ping();
      }
    } catch (error) {
      this.#commandFailed(error);
    } finally {
      this.link.close();
    }
  }

  #publishPresence(room: string, frame: Uint8Array, origin: Buffer): void {
    // Not queued while Redis is lost (bounded memory), but counted.
    if (this.link.isLost) {
      this.#unpublishedPresence++;
      return;
    }
    this.link.command.publish(
      presenceChannel(room),
      Buffer.concat([origin, frame]),
    ).catch(() => {
      this.#unpublishedPresence++;
    });
  }

  /** Leave presence for members removed from the cluster. */
  #publishLeaves(removed: RemovedMember[], origin: Buffer): void {
    for (const { room, id, nick } of removed) {
      const frame = encodeFrame(
        Tag.PRESENCE,
        id,
        encodeJsonBody({ event: "leave", room, id, nick }),
      );
      this.#publishPresence(room, frame, origin);
    }
  }

  #onMessage(channel: Buffer, message: Buffer): void {
    if (message.length < ORIGIN_BYTES) return;
    const room = this.#watched.get(channel.toString());
    if (room === undefined) return;
    // This node announced its own presence already.
    if (message.readUInt32BE(0) === this.number) return;
    this.#post({
      type: "presence",
      room,
      frame: message.subarray(ORIGIN_BYTES),
    });
  }

  /** Members of dead nodes: every node (this one too) tells its members. */
  #reaped(removed: RemovedMember[]): void {
    this.#logger.info("Reaped the members of dead cluster nodes", {
      members: removed.length,
    });
    this.#publishLeaves(removed, Buffer.alloc(ORIGIN_BYTES));
  }

  /** Redis lost this node's records (restarted, or it was reaped). */
  #evicted(): void {
    if (this.#closed) return;
    this.#logger.warn(
      "Cluster records of this node were lost; recording again",
    );
    // A Redis restarted empty counts nodes from 1 again: keep the next
    // node from taking this one's number (and its client ids).
    this.link.command.eval(RAISE_NODE_SEQ, 1, NODE_SEQ_KEY, this.number)
      .catch(() => {});
    this.#heartbeat.start().then(
      () => this.#post({ type: "restore" }),
      (error) => this.#commandFailed(error),
    );
  }

  #lost(reason: string): void {
    if (this.#closed) return;
    this.#connected = false;
    this.#logger.warn("Redis lost: cross-node delivery interrupted", {
      url: this.link.url,
      reason,
    });
    this.#post({ type: "notice", text: DELIVERY_INTERRUPTED });
  }

  #restored(): void {
    if (this.#closed) return;
    this.#connected = true;
    this.#errorLogged = false;
    this.#logger.info("Redis restored: cross-node delivery resumed", {
      url: this.link.url,
      unpublished: this.#unpublished,
      unpublished_presence: this.#unpublishedPresence,
    });
    for (const channel of this.#watched.keys()) {
      this.link.subscriber.subscribe(channel).catch(() => {});
    }
    this.#post({ type: "notice", text: DELIVERY_RESTORED });
    // Redis may have restarted empty: record everyone again.
    this.#post({ type: "restore" });
  }

  #unavailable(client: Connection, tag: number): void {
    this.#post({
      type: "failed",
      client,
      tag,
      reason: "cluster unavailable, try again",
    });
  }

  /** A command failed: logged once until Redis is back. */
  #commandFailed(error: unknown): void {
    if (this.#closed || this.link.isLost || this.#errorLogged) return;
    this.#errorLogged = true;
    this.#logger.warn("Cluster command failed", {
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
