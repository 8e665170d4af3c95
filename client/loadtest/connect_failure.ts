/**
 * Sorting connect failures into causes a person can act on, and saying them
 * in plain words.
 *
 * @module
 */

import type { ConnectFailures } from "./_messages.ts";

/** The connect did not complete within the timeout. */
export class ConnectTimeoutError extends Error {
  /** @param timeoutMs The timeout that passed. */
  constructor(timeoutMs: number) {
    super(`Connect timed out after ${timeoutMs} ms`);
    this.name = "ConnectTimeoutError";
  }
}

/** The server closed or refused the connection before it joined. */
export class RejectedError extends Error {
  /** @param reason The server's words, or a description of what happened. */
  constructor(reason: string) {
    super(reason);
    this.name = "RejectedError";
  }
}

/**
 * Which counter of {@linkcode ConnectFailures} an error belongs to.
 *
 * @param error What `Deno.connect` or the join threw.
 * @returns The cause's key.
 */
export function classifyConnectError(error: unknown): keyof ConnectFailures {
  if (error instanceof ConnectTimeoutError) return "timedOut";
  if (error instanceof RejectedError) return "rejected";
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (error instanceof Deno.errors.TimedOut) return "timedOut";
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return "addressNotAvailable";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/too many open files|os error 2[34]\b/i.test(message)) {
    return "tooManyOpenFiles";
  }
  if (/os error 99\b|cannot assign requested address/i.test(message)) {
    return "addressNotAvailable";
  }
  if (/os error 111\b|connection refused/i.test(message)) return "refused";
  return "other";
}

/**
 * Add one set of failure counts to another.
 *
 * @param into The counts to add to.
 * @param from The counts to add.
 */
export function addConnectFailures(
  into: ConnectFailures,
  from: ConnectFailures,
): void {
  for (const key of Object.keys(into) as (keyof ConnectFailures)[]) {
    into[key] += from[key];
  }
}

/** No failures. */
export function noConnectFailures(): ConnectFailures {
  return {
    refused: 0,
    timedOut: 0,
    tooManyOpenFiles: 0,
    addressNotAvailable: 0,
    rejected: 0,
    other: 0,
  };
}

/**
 * Connect failures in plain words, one phrase per cause, with what to do
 * where there is something to do.
 *
 * @param failures The counts.
 * @param openFileLimit The process's open-file limit, when known.
 * @param samples A few messages of failures of the `other` kind.
 * @returns Phrases such as `"3 refused (nothing listening there)"`; empty
 * when nothing failed.
 *
 * @example Usage
 * ```ts
 * import { describeConnectFailures, noConnectFailures } from "./connect_failure.ts";
 * const failures = { ...noConnectFailures(), refused: 3 };
 * console.log(describeConnectFailures(failures)[0]);
 * // "3 refused (is the server running on that host and port?)"
 * ```
 */
export function describeConnectFailures(
  failures: ConnectFailures,
  openFileLimit?: number,
  samples: string[] = [],
): string[] {
  const phrases: string[] = [];
  if (failures.refused > 0) {
    phrases.push(
      `${failures.refused} refused (is the server running on that host and port?)`,
    );
  }
  if (failures.timedOut > 0) {
    phrases.push(
      `${failures.timedOut} timed out (the server did not accept or answer in time; try a lower --connect-rate or a longer --connect-timeout)`,
    );
  }
  if (failures.tooManyOpenFiles > 0) {
    const limit = openFileLimit === undefined ? "" : ` (now ${openFileLimit})`;
    phrases.push(
      `${failures.tooManyOpenFiles} failed with too many open files: raise this process's limit with 'ulimit -n'${limit}, or spread the clients over several processes`,
    );
  }
  if (failures.addressNotAvailable > 0) {
    phrases.push(
      `${failures.addressNotAvailable} found no free local port (see net.ipv4.ip_local_port_range)`,
    );
  }
  if (failures.rejected > 0) {
    phrases.push(
      `${failures.rejected} rejected by the server before joining`,
    );
  }
  if (failures.other > 0) {
    const detail = samples.length > 0 ? `: ${samples.join("; ")}` : "";
    phrases.push(`${failures.other} failed otherwise${detail}`);
  }
  return phrases;
}

/**
 * The soft limit on open files of this process, from `/proc/self/limits`.
 *
 * @returns The limit, or `undefined` where it cannot be read.
 */
export function openFileLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const line = limits.split("\n").find((row) =>
      row.startsWith("Max open files")
    );
    const value = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
