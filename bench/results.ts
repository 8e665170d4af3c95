/**
 * The layout of `bench/results.json`.
 *
 * @module
 */

import type { MachineInfo } from "./machine.ts";
import type {
  BroadcastFigures,
  MemoryFigures,
  RunFigures,
} from "./scenarios.ts";

/** One row of the matrix. */
export interface MatrixRow {
  /** Short identifier. */
  id: string;
  /** `closed` (maximum throughput) or `open` (fixed rate, latency). */
  mode: "closed" | "open";
  /** Checked receiving clients. */
  clients: number;
  /** Idle connections besides them. */
  idle: number;
  /** Publishers. */
  publishers: number;
  /** Open loop: messages per second. */
  rate: number;
  /** Closed loop: window per publisher. */
  window: number;
  /** Figures against hubbub. */
  hubbub: RunFigures | null;
  /** Figures against Redis. */
  redis: RunFigures | null;
}

/** The slow-consumer runs: the others' figures without and with a stalled reader. */
export interface SlowConsumerResults {
  /** Checked receiving clients. */
  clients: number;
  /** Messages per second. */
  rate: number;
  /** Payload bytes per message. */
  payloadBytes: number;
  /** Measured seconds per run. */
  durationSeconds: number;
  /** Connections that stop reading, in the second variant. */
  stalled: number;
  /** Without a stalled connection (the median-p99 run). */
  without: { hubbub: RunFigures | null; redis: RunFigures | null };
  /** With them (the median-p99 run). */
  with: { hubbub: RunFigures | null; redis: RunFigures | null };
}

/** One run shape against our server over TCP and over WebSocket. */
export interface TransportFigures {
  /** Over TCP (`--port`). */
  tcp: RunFigures | null;
  /** Over WebSocket (`--transport ws` to the `--http-port` gateway). */
  ws: RunFigures | null;
}

/**
 * Our server over WebSocket against TCP in the same run, each run against a
 * fresh server started with `--http-port`.
 */
export interface WebSocketResults {
  /** Checked receiving clients. */
  clients: number;
  /** Publishers. */
  publishers: number;
  /** Closed loop: window per publisher. */
  window: number;
  /** Open loop: messages per second. */
  rate: number;
  /** Closed loop: maximum deliveries/s. */
  closed: TransportFigures;
  /** Open loop: latency at `rate` (the median-p99 run of several). */
  open: TransportFigures;
}

/** Our server's runs with history off and on. */
export interface HistoryFigures {
  /** Started with `--no-history`. */
  off: RunFigures | null;
  /** Started with `--history-db` on a fresh file. */
  on: RunFigures | null;
}

/**
 * Our server with message history off and on in the same run, each run
 * against a fresh server (and, with history on, a fresh database file).
 */
export interface HistoryResults {
  /** Checked receiving clients. */
  clients: number;
  /** Publishers. */
  publishers: number;
  /** Closed loop: window per publisher. */
  window: number;
  /** Open loop: messages per second. */
  rate: number;
  /** Closed loop: maximum deliveries/s. */
  closed: HistoryFigures;
  /** Open loop: latency at `rate` (the median-p99 run of several). */
  open: HistoryFigures;
}

/** Our server's runs as one node and as a cluster on one Redis. */
export interface ClusterFigures {
  /** One node, no Redis (the default single process). */
  alone: RunFigures | null;
  /** One node started with `--redis`: the bus's cost alone. */
  one: RunFigures | null;
  /** Three nodes on one Redis, the generator's connections spread over them. */
  three: RunFigures | null;
}

/**
 * Our server as one node and as three nodes on one Redis (cluster mode) in
 * the same run, each run against fresh processes; every process on the
 * servers' core, so the figures show what the bus and the nodes cost.
 */
export interface ClusterResults {
  /** Nodes of the cluster rows. */
  nodes: number;
  /** Checked receiving clients. */
  clients: number;
  /** Publishers. */
  publishers: number;
  /** Closed loop: window per publisher. */
  window: number;
  /** Open loop: messages per second. */
  rate: number;
  /** Closed loop: maximum deliveries/s. */
  closed: ClusterFigures;
  /** Open loop: latency at `rate` (the median-p99 run of several). */
  open: ClusterFigures;
}

/** Everything `bench/results.json` holds. */
export interface BenchResults {
  /** The machine. */
  machine: MachineInfo;
  /** How the runs were made. */
  settings: {
    /** Measured seconds per run. */
    durationSeconds: number;
    /** Warmup seconds per run. */
    warmupSeconds: number;
    /** Closed loop: window per publisher. */
    window: number;
    /** Open loop: messages per second. */
    openLoopRate: number;
    /** Generator worker threads. */
    workers: number;
    /** Payload size, bytes. */
    payloadBytes: number;
    /** Whether servers and generator ran on separate cores. */
    pinned: boolean;
  };
  /** The throughput and latency matrix. */
  rows: MatrixRow[];
  /** Memory per idle connection. */
  memory: { hubbub: MemoryFigures | null; redis: MemoryFigures | null } | null;
  /** One broadcast to 19,000 connections. */
  broadcast: {
    hubbub: BroadcastFigures | null;
    redis: BroadcastFigures | null;
  } | null;
  /**
   * A client that stops reading: the same open-loop run without and with
   * one stalled connection in the room.
   */
  slowConsumer: SlowConsumerResults | null;
  /** WebSocket against TCP (absent from results written before it). */
  webSocket?: WebSocketResults | null;
  /** History off against on (absent from results written before it). */
  history?: HistoryResults | null;
  /** One node against three on Redis (absent from results written before it). */
  cluster?: ClusterResults | null;
  /** Seconds the whole benchmark took. */
  elapsedSeconds: number;
}
