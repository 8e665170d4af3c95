/**
 * CPU time, resident memory and open descriptors of another process, from
 * `/proc` (Linux).
 *
 * @module
 */

/** Clock ticks per second of `/proc` times (USER_HZ). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system, all threads) a process has used.
 *
 * @param pid The process id.
 * @returns Seconds at 10 ms resolution.
 * @throws {Deno.errors.NotFound} When the process is gone.
 */
export function cpuSecondsOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * Resident set size of a process.
 *
 * @param pid The process id.
 * @returns Bytes.
 * @throws {Deno.errors.NotFound} When the process is gone.
 */
export function residentBytesOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * Peak resident set size of a process over its life so far (`VmHWM`).
 *
 * @param pid The process id.
 * @returns Bytes.
 * @throws {Deno.errors.NotFound} When the process is gone.
 */
export function peakResidentBytesOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * Open file descriptors of a process (the entries of `/proc/PID/fd`).
 *
 * @param pid The process id.
 * @returns How many it has open.
 * @throws {Deno.errors.NotFound} When the process is gone.
 */
export function openDescriptorsOf(pid: number): number {
  let count = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) count++;
  return count;
}

/**
 * A free TCP port on 127.0.0.1 (bound and released at once).
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Whether `taskset` can pin processes to cores here. */
export function canPin(): boolean {
  try {
    return new Deno.Command("taskset", { args: ["-c", "0", "true"] })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Reads a child's output line by line, keeping every line. */
export class LineCollector {
  /** Every line so far. */
  readonly lines: string[] = [];
  /** Settles when the stream ends. */
  readonly done: Promise<void>;
  #waiters: (() => void)[] = [];
  #ended = false;

  /** @param stream The child's stdout or stderr. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      this.lines.push(...parts);
      this.#wake();
    }
    if (pending) this.lines.push(pending);
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Wait for a line matching `pattern`.
   *
   * @param pattern What to look for.
   * @param timeoutMs The longest to wait.
   * @returns The line.
   * @throws {Error} When the stream ends or the time runs out first.
   */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.lines.length; seen++) {
        if (pattern.test(this.lines[seen])) return this.lines[seen];
      }
      if (this.#ended) {
        throw new Error(
          `Output ended before a line matching ${pattern}:\n${
            this.lines.slice(-5).join("\n")
          }`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No line matching ${pattern} in time`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}
