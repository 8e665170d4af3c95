/**
 * How the {@linkcode Hub}'s collaborators are put together at construction:
 * the outbox, the room bus (local or the cluster's), what presence sends
 * through and where its `last_id` comes from, the `RequestContext`, the
 * cluster's parts, admission, rate limits, the shutdown drain and the
 * gauges. Built once; nothing here runs per message (the bus's
 * delivery is the hub's own callback, handed through untouched).
 *
 * @module
 */

import type { Channel } from "./channel.ts";
import type { Clock } from "./clock.ts";
import type { Connection } from "./connection.ts";
import type { HubEvent } from "./events.ts";
import { CLOSED, type Farewell, slowConsumer } from "./farewell.ts";
import type { HistoryStore } from "./history/mod.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { NicknameIndex } from "./nickname_index.ts";
import { Outbox } from "./outbox.ts";
import type { Room } from "./room.ts";
import { type BusDelivery, LocalBus, type RoomBus } from "./room_bus.ts";
import { type PresenceOutput, RoomPresence } from "./room_presence.ts";
import { type RequestContext, sendList } from "./requests/mod.ts";
import type { RoomDirectory } from "./room_directory.ts";
import {
  type ClusterBackend,
  ClusterHub,
  type ClusterHubParts,
} from "./cluster_hub.ts";
import type { HubOptions } from "./settings.ts";
import { Admission } from "./admission.ts";
import { HandshakeAllowance } from "./handshake_allowance.ts";
import { HubGauges } from "./hub_gauges.ts";
import { RateLimits } from "./rate_limits.ts";
import { ShutdownDrain } from "./shutdown_drain.ts";
import type { StallClock } from "./stall_clock.ts";

/** The hub's own actions the collaborators call back (it alone drops and sends). */
export interface HubActions {
  /** Remove a client from the hub, say goodbye, and close it. */
  drop(client: Connection, farewell: Farewell): void;
  /** Answer a request of `tag` with ERROR (sender id `tag`) saying `reason`. */
  refuse(client: Connection, tag: number, reason: string): void;
}

/** What {@linkcode wireHub} is given of the hub. */
export interface HubParts extends HubActions {
  /** The hub's clock. */
  readonly clock: Clock;
  /** The hub's counters. */
  readonly metrics: Metrics;
  /** The hub's inbox (the cluster's events and history answers come back through it). */
  readonly inbox: Channel<HubEvent>;
  /** Lifecycle lines. */
  readonly logger: Logger;
  /** The rooms by name. */
  readonly rooms: RoomDirectory;
  /** Who holds which nickname. */
  readonly nicknames: NicknameIndex;
  /** The registered clients by id. */
  readonly clients: ReadonlyMap<number, Connection>;
  /** Where relayed CHAT is recorded; `null`: off. */
  readonly history: HistoryStore | null;
  /** Cluster mode's node; `null`: a single server. */
  readonly cluster: ClusterBackend | null;
  /** When the server could not read. */
  readonly stalls: StallClock;
  /** The hub's delivery of messages the bus has ordered. */
  readonly deliver: BusDelivery;
}

/** The collaborators {@linkcode wireHub} builds for the hub. */
export interface HubWiring {
  /** Frames into clients' queues, and when the queues are written. */
  readonly outbox: Outbox;
  /** Cluster mode's side of the hub; `null`: a single server. */
  readonly cluster: ClusterHub | null;
  /** Orders each room's CHAT and hands it back for delivery. */
  readonly bus: RoomBus;
  /** Rooms, membership and PRESENCE. */
  readonly presence: RoomPresence;
  /** What requests see of the hub. */
  readonly requests: RequestContext;
  /** Places for connections in their handshake (AUTH and TLS share them). */
  readonly handshakes: HandshakeAllowance;
  /** Who becomes a client: cap, connection rate, AUTH. */
  readonly admission: Admission;
  /** Frame budgets, notices, floods. */
  readonly rateLimits: RateLimits;
  /** Waits at shutdown for the last frames of dropped clients to leave. */
  readonly drain: ShutdownDrain;
  /** Counts of the hub's state now. */
  readonly gauges: HubGauges;
}

/**
 * The hub's collaborators, put together: the outbox, cluster mode's side
 * (if any), the room bus, presence and the request context (the cluster
 * given its parts once they all exist), then admission, rate limits, the
 * shutdown drain and the gauges.
 *
 * @param options The hub's settings.
 * @param parts What the hub owns and its own actions.
 * @returns The collaborators.
 */
export function wireHub(options: HubOptions, parts: HubParts): HubWiring {
  const outbox = hubOutbox(options, parts);
  const cluster = clusterHub(parts.cluster, parts.inbox);
  const bus = roomBus(cluster, parts.history, parts.deliver);
  const output = presenceOutput(outbox);
  const presence = new RoomPresence(
    parts.rooms,
    output,
    options.presenceMaxMembers,
    presenceLastId(cluster, parts.history, bus),
    cluster,
  );
  const requests = requestContext(options, parts, presence, cluster, output);
  cluster?.connect(clusterParts(requests, parts.clients, output));
  const { metrics, logger } = parts;
  const handshakes = new HandshakeAllowance(options.maxHandshakes);
  const admission = new Admission(options, handshakes, logger, metrics);
  const gauges = new HubGauges(
    options,
    parts.clients,
    parts.rooms,
    admission,
    outbox,
    parts.stalls,
  );
  return {
    outbox,
    cluster,
    bus,
    presence,
    requests,
    handshakes,
    admission,
    rateLimits: new RateLimits(options, metrics),
    drain: new ShutdownDrain(parts.clock, metrics, logger),
    gauges,
  };
}

/**
 * The hub's outbox: a client whose queue is full is dropped as a slow
 * consumer.
 */
function hubOutbox(options: HubOptions, parts: HubParts): Outbox {
  return new Outbox({
    maxPendingBytes: options.maxPendingBytes,
    coalesceWriteRate: options.coalesceWriteRate,
    clock: parts.clock,
    totals: parts.metrics,
    onSlowConsumer: (client) =>
      parts.drop(
        client,
        slowConsumer(`${client.writer.pendingBytes} bytes pending`),
      ),
  });
}

/**
 * Cluster mode's side of the hub, if `backend` is given: the Redis bus
 * delivers on its own turn, so its deliveries and the node's events come
 * back through the inbox.
 *
 * @param backend The node; `null`: a single server.
 * @param inbox The hub's inbox.
 * @returns The cluster hub, or `null`.
 */
function clusterHub(
  backend: ClusterBackend | null,
  inbox: Channel<HubEvent>,
): ClusterHub | null {
  if (backend === null) return null;
  return new ClusterHub(
    backend,
    (room, frames, count, firstId) =>
      inbox.push({ kind: "bus", room, frames, count, firstId }),
    (event) => inbox.push({ kind: "cluster", event }),
  );
}

/**
 * The room bus: the cluster's, or a {@linkcode LocalBus} calling `deliver`
 * at once and recording into history (its ids continuing from history's)
 * when history is on.
 *
 * @param cluster Cluster mode, or `null`.
 * @param history The store, or `null`.
 * @param deliver The hub's delivery.
 * @returns The bus.
 */
function roomBus(
  cluster: ClusterHub | null,
  history: HistoryStore | null,
  deliver: BusDelivery,
): RoomBus {
  return cluster?.bus ?? new LocalBus(deliver, history);
}

/**
 * What presence sends through: the outbox (an original client is sent only
 * the tags of the original protocol; PRESENCE goes to the room's hubbub
 * clients only).
 *
 * @param outbox The hub's outbox.
 * @returns The output.
 */
function presenceOutput(outbox: Outbox): PresenceOutput {
  return {
    send: (client, frame) => outbox.send(client, frame),
    announce: (room, frame) => outbox.announce(room.members, frame),
  };
}

/**
 * Where the `last_id` of a join confirmation comes from: the cluster's last
 * delivery in the room, the bus's last id with history on, else none.
 *
 * @param cluster Cluster mode, or `null`.
 * @param history The store, or `null`.
 * @param bus The room bus.
 * @returns The source for {@linkcode RoomPresence}, or `null`.
 */
function presenceLastId(
  cluster: ClusterHub | null,
  history: HistoryStore | null,
  bus: RoomBus,
): ((room: Room) => number | null) | null {
  if (cluster !== null) return (room) => cluster.lastId(room);
  return history === null ? null : (room) => bus.lastId(room);
}

/** The one {@linkcode RequestContext} every request is given. */
function requestContext(
  options: HubOptions,
  parts: HubParts,
  presence: RoomPresence,
  cluster: ClusterHub | null,
  output: PresenceOutput,
): RequestContext {
  const { inbox, drop } = parts;
  return {
    presence,
    nicknames: parts.nicknames,
    maxRoomNameBytes: options.maxRoomNameBytes,
    maxNicknameBytes: options.maxNicknameBytes,
    logger: parts.logger,
    history: parts.history,
    historyMaxReply: options.historyMaxReply,
    // The store answers on its own turn: back through the inbox, so the
    // reply is sent on the hub's.
    historyAnswered: (client, answer) =>
      inbox.push({ kind: "history", client, answer }),
    send: output.send,
    refuse: parts.refuse,
    close: (client) => drop(client, CLOSED),
    cluster,
  };
}

/**
 * What {@linkcode ClusterHub} is given of the hub.
 *
 * @param requests The request context (presence, nicknames, output).
 * @param clients The hub's registry.
 * @param output Where frames go.
 * @returns The parts for `ClusterHub.connect`.
 */
function clusterParts(
  requests: RequestContext,
  clients: ReadonlyMap<number, Connection>,
  output: PresenceOutput,
): ClusterHubParts {
  return {
    presence: requests.presence,
    nicknames: requests.nicknames,
    clients: () => clients.values(),
    client: (id) => clients.get(id),
    send: output.send,
    announce: output.announce,
    refuse: requests.refuse,
    sendList: (client, tag, entries) =>
      sendList(requests, client, tag, entries),
  };
}

/**
 * Log a bug met while handling an event, with its stack.
 *
 * @param logger Where it goes.
 * @param kind The event's kind.
 * @param error What was thrown.
 */
export function logInternalError(
  logger: Logger,
  kind: string,
  error: unknown,
): void {
  logger.error("Internal error", {
    event: kind,
    error: error instanceof Error
      ? error.stack ?? error.message
      : String(error),
  });
}

/**
 * Log a client's drop: a warning when its farewell says so.
 *
 * @param logger Where it goes.
 * @param client The client dropped.
 * @param wasOpen Whether it was registered (else dropped in its handshake).
 * @param farewell Why.
 */
export function logDrop(
  logger: Logger,
  client: Connection,
  wasOpen: boolean,
  farewell: Farewell,
): void {
  logger.log(
    farewell.warn ? "warn" : "info",
    wasOpen ? "Client disconnected" : "Connection dropped",
    {
      id: wasOpen ? client.id : undefined,
      nick: client.nickname ?? undefined,
      address: client.transport.remoteAddress,
      reason: farewell.reason,
      detail: farewell.detail,
    },
  );
}
