import type { Connection } from "./connection.ts";
import type { HistoryAnswer } from "./history/mod.ts";
import type { ClusterEvent } from "./cluster_hub.ts";
import type { Room } from "./room.ts";

/** Why a client left; the label of the disconnect counters. */
export const DisconnectReason = {
  /** The client sent CLOSE. */
  Closed: "closed",
  /** The peer closed the connection or it broke. */
  Gone: "gone",
  /** The client broke the protocol (for example an oversized frame). */
  Protocol: "protocol",
  /** The client's outbound queue went over its bound, or a write stalled. */
  SlowConsumer: "slow_consumer",
  /** The client was silent for longer than the idle timeout. */
  IdleTimeout: "idle_timeout",
  /** A frame the client began did not complete within the frame deadline. */
  FrameTimeout: "frame_timeout",
  /** The client presented a wrong token or none, or took too long to. */
  Auth: "auth",
  /** The server was full when the client connected. */
  ServerFull: "server_full",
  /**
   * Too many connections were in their handshake (TLS, or awaiting AUTH)
   * when it connected.
   */
  HandshakeLimit: "handshake_limit",
  /** Its address opened connections faster than the per-address connection rate. */
  ConnectRateLimited: "connect_rate_limited",
  /** It sent far more frames over its rate limits than a client that merely overshoots. */
  RateLimitFlood: "rate_limit_flood",
  /** The server shut down. */
  Shutdown: "shutdown",
  /** A bug in the server; the client was dropped so that others carry on. */
  InternalError: "internal_error",
} as const;

/** One of the values of {@linkcode DisconnectReason}. */
export type DisconnectReasonValue =
  typeof DisconnectReason[keyof typeof DisconnectReason];

/**
 * What readers, timers and the server post to the hub's channel. The hub
 * handles them strictly in order, one batch at a time.
 */
export type HubEvent =
  /** A connection was accepted; the hub issues an id or refuses it. */
  | { kind: "connect"; client: Connection }
  /**
   * Complete frames read from a client: `bytes[0..end)` holds whole frames
   * only. The hub owns `bytes` until it returns it to the client.
   */
  | { kind: "frames"; client: Connection; bytes: Uint8Array; end: number }
  /** The client broke the protocol; the hub sends ERROR and drops it. */
  | { kind: "violation"; client: Connection; reason: string }
  /** The connection ended or broke under the client. */
  /**
   * The connection ended or broke under the client. `endOfInput`: the peer
   * ended its sending side at a frame boundary, so what is queued for it
   * may still be read.
   */
  | { kind: "gone"; client: Connection; detail: string; endOfInput?: boolean }
  /** The history store's answer to a HISTORY request of `client`. */
  | { kind: "history"; client: Connection; answer: HistoryAnswer }
  /**
   * Cluster mode: messages of `room` the Redis bus ordered, ids `firstId`
   * on (`frames` is the received message, never reused).
   */
  | {
    kind: "bus";
    room: Room;
    frames: Uint8Array;
    count: number;
    firstId: number;
  }
  /** Cluster mode: what the node learned (answers, presence, faults). */
  | { kind: "cluster"; event: ClusterEvent }
  /** Time for housekeeping: keepalive, deadlines, idle buffers. */
  | { kind: "tick" }
  /** The server is stopping: tell every client, then call `done`. */
  | { kind: "shutdown"; reason: string; graceMs: number; done: () => void };
