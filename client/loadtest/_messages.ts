/**
 * The messages between the load generator's main thread and its workers.
 * Every figure a worker sends is a count or an encoded histogram, so the
 * main thread merges them exactly.
 *
 * @module
 */

/** What one worker is asked to do. */
export interface ShardPlan {
  /** This worker's number, `0..shards-1`. */
  shard: number;
  /** Number of workers. */
  shards: number;
  /** `hubbub` or `redis`. */
  target: string;
  /** Redis channel name. */
  channel: string;
  /**
   * Server nodes; connection number k (over the whole process: receivers,
   * then idle, then stalled) goes to node k modulo their count.
   */
  endpoints: { hostname: string; port: number }[];
  /** Receiving connections in the whole process (`--clients`). */
  clients: number;
  /** Idle connections in the whole process (`--idle`). */
  idle: number;
  /** Room (Redis: channel) the idle connections join; "" for the test's. */
  idleRoom: string;
  /** Connections in the whole process that join and stop reading (`--stalled`). */
  stalled: number;
  /** Publishers in the whole process (`--publishers`). */
  publishers: number;
  /** Payload index of this process's first publisher. */
  publisherOffset: number;
  /** Size of the publisher index space, own and other processes'. */
  publisherIndexes: number;
  /** Payload size in bytes. */
  size: number;
  /** Messages per second over all of this process's publishers; 0: closed loop. */
  rate: number;
  /** Messages outstanding per publisher in closed loop. */
  window: number;
  /**
   * Receivers wait for their own join confirmation (hubbub's `join`
   * PRESENCE), not only their id, before counting as joined: with
   * `--targets`, where a cluster node confirms a join only once its
   * subscription to the room is ready.
   */
  awaitJoinConfirmation: boolean;
  /** Connections per second for this worker; 0: as fast as possible. */
  connectRate: number;
  /** Connect and join timeout, ms. */
  connectTimeoutMs: number;
  /** Connect with TLS. */
  tls: boolean;
  /** PEM certificates to trust for TLS. */
  caCerts: string[];
  /** hubbub: AUTH token, "" for none. */
  token: string;
  /** `tcp`, or `ws`: a WebSocket to `ws://hostname:port/ws`. */
  transport: "tcp" | "ws";
  /** Shared-clock time of tick 0 (ticks are one second apart). */
  origin: number;
}

/** Connect failures by cause. */
export interface ConnectFailures {
  /** Nothing listened (ECONNREFUSED). */
  refused: number;
  /** No answer within the connect timeout. */
  timedOut: number;
  /** The generator ran out of file descriptors (EMFILE/ENFILE). */
  tooManyOpenFiles: number;
  /** No local address or port left (EADDRNOTAVAIL). */
  addressNotAvailable: number;
  /** Connected, but the server refused or dropped the connection before it joined. */
  rejected: number;
  /** Anything else. */
  other: number;
}

/** Timing of the load phase, on the shared clock (ms). */
export interface LoadSchedule {
  /** When publishing starts. */
  start: number;
  /** When the warmup ends and measurement starts. */
  measureFrom: number;
  /** When publishing stops. */
  publishUntil: number;
  /** Latest time to finish sending a backlog of due messages. */
  sendBacklogUntil: number;
  /**
   * The server-issued id of each publisher index (0 when not known yet:
   * learned from the first delivery).
   */
  senderIds: number[];
}

/** Per-second figures of one worker. */
export interface TickReport {
  /** Tick number: seconds since the plan's origin. */
  tick: number;
  /** Connections open at the end of the tick. */
  connections: number;
  /** Messages sent during the tick. */
  sent: number;
  /** Deliveries received during the tick. */
  delivered: number;
  /** Payload bytes delivered during the tick. */
  payloadBytes: number;
  /** Bytes read from sockets during the tick. */
  wireBytes: number;
  /** Latencies of the tick's deliveries, encoded. */
  histogram: string;
  /** This worker thread's CPU seconds during the tick, -1 when unknown. */
  cpuSeconds: number;
  /** Disconnects during the tick. */
  disconnects: number;
}

/** Everything one worker counted, sent once at the end. */
export interface ShardTotals {
  /** Connections that joined. */
  connected: number;
  /** Stalled connections that joined. */
  stalled: number;
  /**
   * Stalled connections the server no longer served at the end of the run:
   * no answer to the probe (closed, or silent).
   */
  stalledDropped: number;
  /**
   * Publishers whose connection never saw a tag above CLOSE (the original
   * server's protocol): they sent one frame per write.
   */
  originalProtocolPublishers: number;
  /** Connections that joined, per node of the plan's endpoints. */
  connectedPerEndpoint: number[];
  /**
   * The single-order check: receivers grouped by their order hash and
   * count (see order_check.ts), and how many were left out.
   */
  order: { groups: [number, number, number][]; excluded: number };
  /** Connect and join times in µs, encoded. */
  connectHistogram: string;
  /** Failed connects by cause. */
  connectFailures: ConnectFailures;
  /** A few failure messages of the `other` kind. */
  connectFailureSamples: string[];
  /** Latencies of measured deliveries, µs, encoded. */
  histogram: string;
  /** Open loop: lateness of each send batch after its intended time, µs, encoded. */
  sendLagHistogram: string;
  /** Messages published. */
  published: number;
  /** Messages published with an intended time in the measured window. */
  publishedMeasured: number;
  /** Messages due (open loop) but never sent. */
  unsent: number;
  /** Deliveries received (checked connections only). */
  delivered: number;
  /** Deliveries of measured messages. */
  deliveredMeasured: number;
  /** Payload bytes delivered in the measured window (by arrival time). */
  payloadBytesMeasured: number;
  /** Bytes read from sockets in all. */
  wireBytes: number;
  /** Bytes read from sockets in the measured window. */
  wireBytesMeasured: number;
  /** Deliveries expected by the checked connections. */
  expected: number;
  /** Deliveries that never arrived. */
  lost: number;
  /** Deliveries that arrived twice or more. */
  duplicates: number;
  /** Deliveries that arrived after a later one from the same publisher. */
  reordered: number;
  /** Deliveries from publisher indexes outside the run, or unparseable. */
  unexpected: number;
  /** Deliveries whose sender stamp was not the publisher's issued id. */
  wrongSender: number;
  /** Server error messages and how often each was seen. */
  serverErrors: Record<string, number>;
  /** Connections lost during the run, by cause. */
  disconnects: Record<string, number>;
  /** This worker thread's CPU seconds, load phase (-1 when unknown). */
  cpuSeconds: number;
  /** Publish replies whose receiver count differed from the subscribers. */
  publishReplyMismatches: number;
  /** Refusal notices: ERROR frames about a refused CHAT (hubbub's rate limit). */
  refusalNotices: number;
  /**
   * Messages of this worker's publishers that no receiver of this worker
   * got, the publisher's own connection (open to the end) included: the
   * server relayed them to nobody.
   */
  unrelayed: number;
}

/** Main thread to worker. */
export type ToShard =
  | {
    kind: "plan";
    plan: ShardPlan;
    /** Open loop: this shard's end of the channel to its ticker thread. */
    tickerPort: MessagePort | null;
  }
  | { kind: "start"; schedule: LoadSchedule }
  | { kind: "stop" }
  | { kind: "published-totals"; published: number[] }
  | { kind: "finish" };

/** Worker to main thread. */
export type FromShard =
  | {
    kind: "connected";
    connected: number;
    failed: number;
    /** Issued ids of this worker's publishers: [payload index, id]. */
    senderIds: [number, number][];
  }
  | { kind: "tick"; report: TickReport }
  | {
    kind: "published";
    /** Messages published per own publisher: [payload index, count]. */
    published: [number, number][];
    /** For every publisher index, one more than the highest seen. */
    highestSeen: number[];
  }
  | { kind: "drained" }
  | { kind: "totals"; totals: ShardTotals }
  | { kind: "failed"; message: string };
