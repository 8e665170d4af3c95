/**
 * A redis-server of a test's own: a free loopback port, no persistence,
 * stopped by its PID. Cluster tests use it so that they never touch a shared
 * Redis.
 */

/** True where `redis-server` cannot be run: the cluster tests are ignored. */
export const REDIS_MISSING: boolean = (() => {
  try {
    new Deno.Command("redis-server", { args: ["--version"] }).outputSync();
    return false;
  } catch {
    return true;
  }
})();

if (REDIS_MISSING) console.log("redis-server is not installed: skipped");

/** Generous: the machine is shared and a process may start slowly. */
const START_WAIT_MS = 30_000;

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/**
 * One redis-server process on `port`; `start()` again after `stop()` runs a
 * new one on the same port (an empty Redis, as a restart without
 * persistence).
 */
export class RedisServer {
  /** The loopback port this server listens on. */
  readonly port: number;
  #child: Deno.ChildProcess | null = null;

  constructor(port: number = freePort()) {
    this.port = port;
  }

  /** A free port, a redis-server started on it and answering. */
  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port);
    await server.start();
    return server;
  }

  /** The URL the cluster code connects to. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Spawn redis-server; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.#child !== null) throw new Error("redis-server already running");
    this.#child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const started = Date.now();
    for (;;) {
      try {
        const probe = await Deno.connect({
          hostname: "127.0.0.1",
          port: this.port,
        });
        probe.close();
        return;
      } catch {
        if (Date.now() - started > START_WAIT_MS) {
          await this.stop();
          throw new Error(`redis-server did not start on port ${this.port}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Kill the process by its PID (if still running) and wait for its end. */
  async stop(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    try {
      Deno.kill(child.pid, signal);
    } catch {
      // Already gone.
    }
    await child.status;
  }
}
