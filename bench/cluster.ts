/**
 * The benchmark's cluster setup: one `redis-server` and several hubbub nodes
 * started with `--redis`, seen by the benchmark as one server under test
 * (its CPU and memory are the sum of every process's), with the nodes'
 * ports for the generator's `--targets`.
 *
 * @module
 */

import {
  type ServerUnderTest,
  serveTaskArgs,
  startHubbub,
  startRedis,
} from "./servers.ts";

/** Several hubbub nodes on one Redis, as one server under test. */
export interface ClusterUnderTest extends ServerUnderTest {
  /** Every node's port on 127.0.0.1, in start order. */
  ports: number[];
}

/**
 * Whether this checkout's server has cluster mode (a `--redis` flag in its
 * `--help`).
 *
 * @returns `true` when it does.
 */
export function serverHasClusterMode(): boolean {
  try {
    const output = new Deno.Command(Deno.execPath(), {
      args: [...serveTaskArgs(), "--help"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).outputSync();
    return /--redis\b/.test(new TextDecoder().decode(output.stdout));
  } catch {
    return false;
  }
}

/**
 * Start a fresh `redis-server` and `nodes` hubbub nodes on it, all pinned to
 * `core` (so one node and several share the same CPU: the difference is
 * what the bus and the extra nodes cost, not more cores).
 *
 * @param core Pin every process to this core, or `null`.
 * @param nodes How many hubbub nodes.
 * @returns The cluster; `stop()` stops the nodes, then Redis.
 * @throws {StartupError} When a process does not start in time (what had
 * started is stopped).
 */
export async function startCluster(
  core: number | null,
  nodes: number,
): Promise<ClusterUnderTest> {
  const redis = await startRedis(core);
  const started: ServerUnderTest[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((node) => node.stop()));
    await redis.stop();
  };
  try {
    for (let node = 0; node < nodes; node++) {
      started.push(
        await startHubbub(core, ["--redis", `redis://127.0.0.1:${redis.port}`]),
      );
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const all = [...started, redis];
  const total = (pick: (server: ServerUnderTest) => number) =>
    all.reduce((sum, server) => sum + pick(server), 0);
  return {
    target: "hubbub",
    port: started[0].port,
    ports: started.map((node) => node.port),
    pid: started[0].pid,
    cpuSeconds: () => total((server) => server.cpuSeconds()),
    residentBytes: () => total((server) => server.residentBytes()),
    peakResidentBytes: () => total((server) => server.peakResidentBytes()),
    stop: stopAll,
  };
}

/**
 * The generator's `--targets` for a cluster.
 *
 * @param cluster The cluster.
 * @returns `["--targets", "127.0.0.1:P1,127.0.0.1:P2,..."]`.
 */
export function clusterTargetArgs(cluster: ClusterUnderTest): string[] {
  return [
    "--targets",
    cluster.ports.map((port) => `127.0.0.1:${port}`).join(","),
  ];
}
