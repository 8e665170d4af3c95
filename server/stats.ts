import type { Connection } from "./connection.ts";
import type { Hub } from "./hub.ts";

/** One connection in `/stats`, like a NATS `/connz` entry. */
export interface ConnectionStats {
  id: number;
  nick: string | null;
  room: string | null;
  address: string;
  connected_since: string;
  frames_in: number;
  frames_out: number;
  bytes_in: number;
  bytes_out: number;
  pending_bytes: number;
  rate_limited_frames: number;
}

/** The `/stats` document. */
export interface ServerStats {
  server: {
    started_at: string;
    uptime_seconds: number;
    connections: number;
    awaiting_auth: number;
    rooms: number;
    max_clients: number;
  };
  totals: {
    connects: number;
    disconnects: Record<string, number>;
    frames_in: number;
    bytes_in: number;
    frames_out: number;
    bytes_out: number;
    socket_writes: number;
    chats_relayed: number;
    deliveries: number;
    rate_limited_frames: number;
    auth_failures: number;
    pending_bytes: number;
    event_queue_depth: number;
    /** History: messages stored, not stored, failed writes, pending (all 0 when off). */
    history_stored: number;
    history_not_stored: number;
    history_write_errors: number;
    history_pending: number;
  };
  /** Total connections, offset and limit of the page in `connections`. */
  total: number;
  offset: number;
  limit: number;
  /** `id` (default) or `pending` (most pending bytes first). */
  sort: "id" | "pending";
  connections: ConnectionStats[];
}

/** Most connections one `/stats` page lists. */
export const MAX_STATS_LIMIT = 1024;

/** Paging and order of the connection list. */
export interface StatsQuery {
  offset?: number;
  limit?: number;
  sort?: "id" | "pending";
}

function describe(client: Connection): ConnectionStats {
  return {
    id: client.id,
    nick: client.nickname,
    room: client.room?.name ?? null,
    address: client.transport.remoteAddress,
    connected_since: new Date(client.connectedAt).toISOString(),
    frames_in: client.framesIn,
    frames_out: client.framesOut,
    bytes_in: client.bytesIn,
    bytes_out: client.writer.bytesWritten,
    pending_bytes: client.writer.pendingBytes,
    rate_limited_frames: client.rateLimitedFrames,
  };
}

/**
 * A snapshot of the server for `/stats`: totals and a page of connections
 * with their pending bytes.
 *
 * @param hub The hub, read synchronously.
 * @param query Paging (`offset`, default 0; `limit`, default and at most
 * {@linkcode MAX_STATS_LIMIT}) and order.
 * @returns The document.
 */
export function collectStats(hub: Hub, query: StatsQuery = {}): ServerStats {
  const m = hub.metrics;
  const offset = query.offset ?? 0;
  const limit = Math.min(query.limit ?? MAX_STATS_LIMIT, MAX_STATS_LIMIT);
  const sort = query.sort ?? "id";
  const clients = [...hub.clients()];
  let pending = 0;
  for (const client of clients) pending += client.writer.pendingBytes;
  const history = hub.history?.counters;
  if (sort === "pending") {
    clients.sort((a, b) => b.writer.pendingBytes - a.writer.pendingBytes);
  }
  return {
    server: {
      started_at: new Date(hub.startedAt).toISOString(),
      uptime_seconds: Math.round((Date.now() - hub.startedAt) / 1000),
      connections: hub.gauges.clientCount,
      awaiting_auth: hub.gauges.awaitingAuthCount,
      rooms: hub.gauges.roomCount,
      max_clients: hub.gauges.maxClients,
    },
    totals: {
      connects: m.connects,
      disconnects: Object.fromEntries(m.disconnects),
      frames_in: m.framesIn,
      bytes_in: m.bytesIn,
      frames_out: m.framesOut,
      bytes_out: m.bytesOut,
      socket_writes: m.writes,
      chats_relayed: m.chatsRelayed,
      deliveries: m.deliveries,
      rate_limited_frames: m.rateLimitedFrames,
      auth_failures: m.authFailures,
      pending_bytes: pending,
      event_queue_depth: hub.inbox.length,
      history_stored: history?.stored ?? 0,
      history_not_stored: history?.notStored ?? 0,
      history_write_errors: history?.writeErrors ?? 0,
      history_pending: history?.pending ?? 0,
    },
    total: clients.length,
    offset,
    limit,
    sort,
    connections: clients.slice(offset, offset + limit).map(describe),
  };
}
