/**
 * CPU time of the calling thread. A Deno worker runs on a thread of its own,
 * so a worker can tell how busy it is: the load generator reports it so a
 * reader can see when the generator, not the server, was the limit.
 *
 * `process.threadCpuUsage()` (`node:process`) reads it without any
 * permission; where a runtime lacks it, `/proc/thread-self/stat` (Linux,
 * which Deno lets only `--allow-all` read) is the fallback.
 *
 * @module
 */

import process from "node:process";

/** Clock ticks per second of `/proc` times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

type ThreadCpuUsage = () => { user: number; system: number };

const threadCpuUsage =
  (process as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage;

/**
 * CPU seconds (user + system) the calling thread has used.
 *
 * @returns Seconds, or -1 where no source is available.
 */
export function threadCpuSeconds(): number {
  if (typeof threadCpuUsage === "function") {
    try {
      const usage = threadCpuUsage.call(process);
      return (usage.user + usage.system) / 1e6;
    } catch {
      // Fall back to /proc.
    }
  }
  try {
    const stat = Deno.readTextFileSync("/proc/thread-self/stat");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after the command name start at "state" (field 3): utime is
    // field 14 and stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return -1;
  }
}
