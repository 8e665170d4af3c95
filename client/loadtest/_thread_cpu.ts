/**
 * CPU time of the calling thread, from `/proc/thread-self/stat` (Linux).
 * A Deno worker runs on a thread of its own, so a worker can tell how busy it
 * is: the load generator reports it so a reader can see when the generator,
 * not the server, was the limit.
 *
 * @module
 */

/** Clock ticks per second of `/proc` times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) the calling thread has used.
 *
 * @returns Seconds at 10 ms resolution, or -1 where `/proc` is not readable.
 */
export function threadCpuSeconds(): number {
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
