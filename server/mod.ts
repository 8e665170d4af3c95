/**
 * The hubbub chat server: an accept loop, one reader task per connection, a
 * channel into one central event handler (the {@linkcode Hub}) that owns all
 * state, and a writer per client.
 *
 * @example Usage
 * ```ts no-eval
 * import { startServer } from "./mod.ts";
 * const server = await startServer({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on ${server.address.port}`);
 * await server.shutdown({ reason: "bye" });
 * ```
 *
 * @module
 */

export { Channel } from "./channel.ts";
export { Connection, ConnectionState } from "./connection.ts";
export { ClientWriter } from "./client_writer.ts";
export { DisconnectReason, type HubEvent } from "./events.ts";
export {
  handleHttpRequest,
  type HttpEndpoint,
  type HttpEndpointOptions,
  startHttpEndpoint,
} from "./http_endpoint.ts";
export {
  COALESCE_DELAY_MS,
  COALESCE_WRITE_RATE,
  FlushPolicy,
  MAX_COALESCED_ROUND_WRITES,
  MAX_ROUND_INTERVAL_MS,
  ROUND_WRITE_COST_MS,
  SMALL_BATCH_MESSAGES,
} from "./flush_policy.ts";
export { PreciseTimer } from "./precise_timer.ts";
export { type Clock, type ClockTimer, systemClock } from "./clock.ts";
export { Outbox, type OutboxOptions } from "./outbox.ts";
export { type BusDelivery, LocalBus, type RoomBus } from "./room_bus.ts";
export { Hub } from "./hub.ts";
export { LIST_LIMIT } from "./requests/mod.ts";
export {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  Logger,
  type LoggerOptions,
  type LogLevel,
} from "./logger.ts";
export { BucketHistogram, Metrics } from "./metrics.ts";
export { formatMetrics } from "./prometheus.ts";
export { Room } from "./room.ts";
export { RoomDirectory } from "./room_directory.ts";
export { TokenBucket } from "./token_bucket.ts";
export { TokenSet } from "./token_set.ts";
export {
  Server,
  type ServerOptions,
  type ShutdownOptions,
  startServer,
} from "./server.ts";
export {
  DEFAULT_HUB_OPTIONS,
  type HubOptions,
  type HubSettings,
  MIN_PENDING_BYTES,
  SERVER_SETTINGS,
  type SettingSpec,
  validateHubOptions,
} from "./settings.ts";
export {
  collectStats,
  type ConnectionStats,
  type ServerStats,
  type StatsQuery,
} from "./stats.ts";
export type {
  AnyTransport,
  MessageTransport,
  StreamTransport,
  Transport,
} from "./transport/mod.ts";
