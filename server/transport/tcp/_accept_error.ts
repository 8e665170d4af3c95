/**
 * What a failed `accept()` means for the accept loop. Linux passes errors
 * that are already pending on a new connection out of `accept()` itself (a
 * peer that connected and reset before it was accepted gives ENOTCONN or
 * ECONNABORTED), and accept(2) says to treat those like EAGAIN: retry at
 * once. Only a shortage of descriptors or memory is worth waiting out.
 *
 * @module
 */

/** Why an accept failed; the label of the failed-accept counter. */
export const AcceptErrorKind = {
  /** The waiting connection broke before it was accepted (reset, aborted). */
  PeerGone: "peer_gone",
  /** The process or the system is out of file descriptors (EMFILE, ENFILE). */
  OutOfFiles: "out_of_files",
  /** The kernel is out of buffer space or memory (ENOBUFS, ENOMEM). */
  OutOfMemory: "out_of_memory",
  /** Anything else. */
  Other: "other",
} as const;

/** One of the values of {@linkcode AcceptErrorKind}. */
export type AcceptErrorKindValue =
  typeof AcceptErrorKind[keyof typeof AcceptErrorKind];

/** Linux errno codes by name, for errors that carry only "os error N". */
const ERRNO: Readonly<Record<number, string>> = {
  1: "EPERM",
  4: "EINTR",
  11: "EAGAIN",
  12: "ENOMEM",
  23: "ENFILE",
  24: "EMFILE",
  64: "ENONET",
  71: "EPROTO",
  92: "ENOPROTOOPT",
  95: "EOPNOTSUPP",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  112: "EHOSTDOWN",
  113: "EHOSTUNREACH",
};

/**
 * Errors of one waiting connection (accept(2)'s list for TCP, plus resets,
 * timeouts and firewall refusals) and interruptions: retry at once.
 */
const PEER_GONE = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "ENOTCONN",
  "EPROTO",
  "ENETDOWN",
  "ENETUNREACH",
  "ENOPROTOOPT",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENONET",
  "EOPNOTSUPP",
  "ETIMEDOUT",
  "EPERM",
  "EINTR",
  "EAGAIN",
]);

/** The errno name of an accept error (`code`, or parsed from the message). */
function errnoName(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && code.startsWith("E")) return code;
  const number = /os error (\d+)/.exec(error.message)?.[1];
  if (number !== undefined) return ERRNO[Number(number)] ?? null;
  if (/too many open files/i.test(error.message)) return "EMFILE";
  if (
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.NotConnected
  ) {
    return "ECONNABORTED";
  }
  return null;
}

/**
 * Sort an error thrown by `accept()`.
 *
 * @param error The error.
 * @returns Its {@linkcode AcceptErrorKind}.
 */
export function classifyAcceptError(error: unknown): AcceptErrorKindValue {
  const name = errnoName(error);
  if (name === null) return AcceptErrorKind.Other;
  if (name === "EMFILE" || name === "ENFILE") return AcceptErrorKind.OutOfFiles;
  if (name === "ENOBUFS" || name === "ENOMEM") {
    return AcceptErrorKind.OutOfMemory;
  }
  return PEER_GONE.has(name) ? AcceptErrorKind.PeerGone : AcceptErrorKind.Other;
}
