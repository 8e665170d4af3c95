/**
 * Cluster mode: several hubbub nodes share rooms through Redis. Loaded only
 * with `--redis` (a dynamic import), so a single server loads none of it.
 *
 * - {@linkcode connectCluster}: the node's command and subscriber
 *   connections; unreachable is one line naming the URL (exit 1).
 * - {@linkcode claimNodeNumber}, {@linkcode ClusterIds}: the node's number
 *   and its client ids, unique across the cluster.
 * - {@linkcode RedisBus}: the hub's RoomBus. The hub passes each run's
 *   nick and time to `publish`, calls `endBatch()` after each batch,
 *   `join(room)` when a room's first local member joins and `leave(room)`
 *   when its last leaves, and confirms that first join (its `last_id`)
 *   from the bus's `ready(room, lastId)`; a later joiner's `last_id` is
 *   `lastId(room)` as of the hub's last delivery in that room.
 * - {@linkcode ClusterMembership}, {@linkcode NodeHeartbeat}: members, WHO,
 *   ROOMS and nicknames across nodes, and the cleanup of dead nodes.
 * - The key and channel names.
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
  type LocalClient,
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
export {
  NICKS_KEY,
  nodeKey,
  NODES_KEY,
  roomMembersKey,
  ROOMS_KEY,
} from "./membership_keys.ts";
