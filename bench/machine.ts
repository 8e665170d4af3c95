/**
 * What the benchmark ran on: cores, CPU model, memory, kernel, Deno and
 * Redis versions, date.
 *
 * @module
 */

import { redisVersion } from "./servers.ts";

/** The machine a benchmark ran on. */
export interface MachineInfo {
  /** Logical CPUs. */
  cores: number;
  /** CPU model name. */
  cpuModel: string;
  /** Total memory, GiB. */
  memoryGiB: number;
  /** Kernel release. */
  kernel: string;
  /** Deno version. */
  deno: string;
  /** V8 version. */
  v8: string;
  /** Redis version. */
  redis: string;
  /** Open-file limit of the benchmark process. */
  openFileLimit: number | null;
  /** When the benchmark ran (ISO 8601). */
  date: string;
}

function readOr(path: string, fallback: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

/**
 * Describe this machine.
 *
 * @returns The facts; unknown ones are empty or null.
 */
export function describeMachine(): MachineInfo {
  const cpuinfo = readOr("/proc/cpuinfo", "");
  const meminfo = readOr("/proc/meminfo", "");
  const limits = readOr("/proc/self/limits", "");
  const memoryKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const openFiles = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
  return {
    cores: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "",
    memoryGiB: Math.round(memoryKiB / 1024 / 1024 * 10) / 10,
    kernel: readOr("/proc/sys/kernel/osrelease", "").trim(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    redis: redisVersion(),
    openFileLimit: openFiles === undefined ? null : Number(openFiles),
    date: new Date().toISOString(),
  };
}
