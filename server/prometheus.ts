import type { Hub } from "./hub.ts";
import { AcceptErrorKind } from "./transport/tcp/accept_loop.ts";
import { DisconnectReason } from "./events.ts";
import type { HttpServerCounters } from "./http_server.ts";
import type { Logger } from "./logger.ts";
import type { WebSocketCounters } from "./transport/ws/gateway.ts";

/** Counters kept outside the hub that `/metrics` includes (0 when absent). */
export interface MetricSources {
  /** The logger: lines dropped and suppressed. */
  logger?: Logger;
  /** The HTTP listener: open connections, requests, head timeouts. */
  http?: Readonly<HttpServerCounters>;
  /** The WebSocket gateway: connections open, upgrades, refused origins. */
  webSockets?: Readonly<WebSocketCounters>;
}

type MetricType = "counter" | "gauge" | "histogram";

class Exposition {
  lines: string[] = [];

  metric(
    name: string,
    type: MetricType,
    help: string,
    samples: [labels: string, value: number][],
  ): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      this.lines.push(`${name}${labels} ${value}`);
    }
  }

  single(name: string, type: MetricType, help: string, value: number): void {
    this.metric(name, type, help, [["", value]]);
  }
}

/**
 * The hub's metrics in the Prometheus text exposition format (version
 * 0.0.4): connections, connects and disconnects by reason, frames and bytes
 * in and out, deliveries, slow-consumer disconnects, rate-limit drops, event
 * queue depth, the handler's batch-duration histogram, log lines dropped and
 * suppressed, the HTTP listener's connections, history writes, and process
 * memory.
 *
 * @param hub The hub to describe. Read synchronously; nothing is changed.
 * @param sources The logger and the HTTP listener, for their counters.
 * @returns The exposition text, ending in a newline.
 */
export function formatMetrics(hub: Hub, sources: MetricSources = {}): string {
  const { logger, http, webSockets } = sources;
  const m = hub.metrics;
  const out = new Exposition();
  let pending = 0;
  let buffers = 0;
  let original = 0;
  for (const client of hub.clients()) {
    if (client.original) original++;
    pending += client.writer.pendingBytes;
    buffers += client.readBufferCapacity + client.writer.bufferedCapacity;
  }
  out.single(
    "hubbub_connections",
    "gauge",
    "Clients connected now (with an id).",
    hub.gauges.clientCount,
  );
  out.single(
    "hubbub_connections_awaiting_auth",
    "gauge",
    "Connections that have not authenticated yet.",
    hub.gauges.awaitingAuthCount,
  );
  out.single(
    "hubbub_original_clients",
    "gauge",
    "Clients that have sent no tag above CLOSE yet: served as the original client (tags 0-2, one frame per write).",
    original,
  );
  out.single(
    "hubbub_connections_handshaking",
    "gauge",
    "Connections in their TLS handshake or awaiting AUTH (bounded by --max-handshakes).",
    hub.handshakes.inUse,
  );
  out.single(
    "hubbub_rooms",
    "gauge",
    "Rooms that exist now, the lobby included.",
    hub.gauges.roomCount,
  );
  out.single(
    "hubbub_connects_total",
    "counter",
    "Connections accepted, refused ones included.",
    m.connects,
  );
  out.metric(
    "hubbub_disconnects_total",
    "counter",
    "Disconnects by reason.",
    Object.values(DisconnectReason).map((reason) => [
      `{reason="${reason}"}`,
      m.disconnects.get(reason) ?? 0,
    ]),
  );
  out.metric(
    "hubbub_accept_errors_total",
    "counter",
    "Failed accepts by kind: peer_gone (broke before it was accepted; retried at once), out_of_files, out_of_memory, other.",
    Object.values(AcceptErrorKind).map((kind) => [
      `{kind="${kind}"}`,
      m.acceptErrors.get(kind) ?? 0,
    ]),
  );
  out.single(
    "hubbub_slow_consumer_disconnects_total",
    "counter",
    "Clients dropped because their outbound queue overflowed or a write stalled.",
    m.disconnects.get(DisconnectReason.SlowConsumer) ?? 0,
  );
  out.single(
    "hubbub_frames_in_total",
    "counter",
    "Frames received from clients.",
    m.framesIn,
  );
  out.single(
    "hubbub_bytes_in_total",
    "counter",
    "Bytes received from clients.",
    m.bytesIn,
  );
  out.single(
    "hubbub_frames_out_total",
    "counter",
    "Frames queued to clients.",
    m.framesOut,
  );
  out.single(
    "hubbub_bytes_out_total",
    "counter",
    "Bytes written to clients.",
    m.bytesOut,
  );
  out.single(
    "hubbub_socket_writes_total",
    "counter",
    "Socket writes to clients (each carries every frame pending for one client).",
    m.writes,
  );
  out.single(
    "hubbub_chats_relayed_total",
    "counter",
    "CHAT frames accepted for relay.",
    m.chatsRelayed,
  );
  out.single(
    "hubbub_deliveries_total",
    "counter",
    "CHAT frames queued to recipients (one per recipient).",
    m.deliveries,
  );
  out.single(
    "hubbub_rate_limited_frames_total",
    "counter",
    "Frames dropped by rate limits (per client, per address, control frames).",
    m.rateLimitedFrames,
  );
  out.single(
    "hubbub_addresses_tracked",
    "gauge",
    "Source addresses the per-address limits remember now.",
    hub.gauges.trackedAddresses,
  );
  out.single(
    "hubbub_stalled_seconds_total",
    "counter",
    "Time the server could not read (stopped, event loop blocked), credited to rate limits.",
    hub.gauges.stalledSeconds,
  );
  out.single(
    "hubbub_auth_failures_total",
    "counter",
    "AUTH frames with a wrong token.",
    m.authFailures,
  );
  out.single(
    "hubbub_shutdown_undelivered_frames_total",
    "counter",
    "Frames queued to clients and never written because a shutdown closed their connections.",
    m.shutdownUndeliveredFrames,
  );
  out.single(
    "hubbub_shutdown_unrelayed_chats_total",
    "counter",
    "CHAT frames read from clients and not relayed because a shutdown had begun.",
    m.shutdownUnrelayedChats,
  );
  out.single(
    "hubbub_pending_bytes",
    "gauge",
    "Bytes queued to clients and not yet written.",
    pending,
  );
  out.single(
    "hubbub_client_buffer_bytes",
    "gauge",
    "Read and write buffer memory held for clients (idle ones give theirs back within a tick or two).",
    buffers,
  );
  out.single(
    "hubbub_write_coalescing",
    "gauge",
    "1 while the hub batches many small messages into fewer writes, else 0.",
    hub.gauges.coalescing ? 1 : 0,
  );
  out.single(
    "hubbub_flush_round_interval_seconds",
    "gauge",
    "Shortest time between two flush rounds while big rooms are busy, else 0.",
    hub.gauges.flushRoundInterval / 1000,
  );
  out.single(
    "hubbub_event_queue_depth",
    "gauge",
    "Events waiting for the central handler.",
    hub.inbox.length,
  );
  out.single(
    "hubbub_event_queue_bytes",
    "gauge",
    "Bytes of input waiting for the central handler.",
    hub.inbox.weight,
  );
  const histogram = m.batchSeconds;
  const buckets: [string, number][] = [];
  let cumulative = 0;
  histogram.bounds.forEach((bound, i) => {
    cumulative += histogram.counts[i];
    buckets.push([`{le="${bound}"}`, cumulative]);
  });
  buckets.push([`{le="+Inf"}`, histogram.count]);
  out.lines.push(
    "# HELP hubbub_handler_batch_seconds Time the central handler took per batch of events.",
    "# TYPE hubbub_handler_batch_seconds histogram",
    ...buckets.map(([labels, value]) =>
      `hubbub_handler_batch_seconds_bucket${labels} ${value}`
    ),
    `hubbub_handler_batch_seconds_sum ${histogram.sum}`,
    `hubbub_handler_batch_seconds_count ${histogram.count}`,
  );
  out.single(
    "hubbub_log_lines_dropped_total",
    "counter",
    "Log lines dropped because standard error did not take them fast enough.",
    logger?.droppedLines ?? 0,
  );
  out.single(
    "hubbub_log_lines_suppressed_total",
    "counter",
    "Warnings about clients left out by the per-address rate limit.",
    logger?.suppressedLines ?? 0,
  );
  out.single(
    "hubbub_http_connections",
    "gauge",
    "HTTP connections open now (this scrape's included).",
    http?.connections ?? 0,
  );
  out.single(
    "hubbub_http_requests_total",
    "counter",
    "HTTP requests answered, with any status.",
    http?.requests ?? 0,
  );
  out.single(
    "hubbub_http_header_timeouts_total",
    "counter",
    "HTTP connections closed because their request head was not complete in time.",
    http?.headerTimeouts ?? 0,
  );
  out.single(
    "hubbub_websocket_connections",
    "gauge",
    "WebSocket connections open now (their clients are in hubbub_connections too).",
    webSockets?.open ?? 0,
  );
  out.single(
    "hubbub_websocket_upgrades_total",
    "counter",
    "WebSocket upgrades accepted on /ws.",
    webSockets?.upgrades ?? 0,
  );
  out.single(
    "hubbub_websocket_refused_origins_total",
    "counter",
    "WebSocket upgrades refused with 403: their Origin is not allowed (--allowed-origins).",
    webSockets?.refusedOrigins ?? 0,
  );
  const history = hub.history?.counters;
  out.single(
    "hubbub_history_stored_total",
    "counter",
    "Messages written to the history database (0 with --no-history).",
    history?.stored ?? 0,
  );
  out.single(
    "hubbub_history_not_stored_total",
    "counter",
    "Messages relayed but not stored: write failures, dropped past the pending bound, or after the store closed.",
    history?.notStored ?? 0,
  );
  out.single(
    "hubbub_history_write_errors_total",
    "counter",
    "Failed history write attempts (batches; writing pauses and is retried).",
    history?.writeErrors ?? 0,
  );
  out.single(
    "hubbub_history_pending",
    "gauge",
    "Messages recorded and not yet confirmed written (the batch window, or paused writing).",
    history?.pending ?? 0,
  );
  const cluster = hub.cluster?.counters;
  if (cluster !== undefined) {
    out.single(
      "hubbub_cluster_connected",
      "gauge",
      "1 while both connections to Redis are up (cluster mode only).",
      cluster.connected ? 1 : 0,
    );
    out.single(
      "hubbub_cluster_unpublished_total",
      "counter",
      "Messages that could not be published to Redis (lost, or a failed call); their senders' rooms on other nodes never got them.",
      cluster.unpublished,
    );
    out.single(
      "hubbub_cluster_unpublished_presence_total",
      "counter",
      "Joins, leaves and renames that could not be published to Redis (lost, or a failed call); members on other nodes never heard of them.",
      cluster.unpublishedPresence,
    );
    out.single(
      "hubbub_cluster_missed_total",
      "counter",
      "Messages of other nodes this node did not receive (published while its link to Redis was down).",
      cluster.missed,
    );
  }
  out.single(
    "process_resident_memory_bytes",
    "gauge",
    "Resident memory of the server process.",
    Deno.memoryUsage().rss,
  );
  return out.lines.join("\n") + "\n";
}
