/**
 * Cluster mode: several hubbub nodes share rooms through Redis. The
 * connections ({@linkcode connectCluster}), cluster-wide ids
 * ({@linkcode claimNodeNumber}, {@linkcode ClusterIds}), the room bus
 * ({@linkcode RedisBus}) and the key names. Loaded only with `--redis`.
 *
 * @module
 */

export {
  ClusterLink,
  type ClusterLinkOptions,
  connectCluster,
  type LinkWatcher,
  reconnectDelay,
} from "./redis_link.ts";
export {
  claimNodeNumber,
  ClusterIds,
  IDS_PER_NODE,
  MAX_NODE_NUMBER,
} from "./node_id.ts";
export { RedisBus, type RedisBusOptions } from "./redis_bus.ts";
export {
  ClusterMembership,
  type NickClaim,
  NICKNAME_TAKEN,
} from "./membership.ts";
export {
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TTL_MS,
  type HeartbeatOptions,
  NodeHeartbeat,
} from "./heartbeat.ts";
export type { RemovedMember, ScriptRunner } from "./membership_redis.ts";
export {
  NODE_SEQ_KEY,
  roomChannel,
  roomCounterKey,
  roomKey,
  roomStreamKey,
} from "./keys.ts";
