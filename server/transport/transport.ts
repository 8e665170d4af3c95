/**
 * The byte pipe under a hub client. The hub never sees a socket: it writes
 * through a `Transport`, so a TCP connection today and a WebSocket tomorrow
 * are the same kind of client to it.
 *
 * @module
 */

/** Where a client's outgoing bytes go. */
export interface Transport {
  /** The peer's address for logs and stats, for example `127.0.0.1:50312`. */
  readonly remoteAddress: string;
  /**
   * Write some of `bytes`. The buffer must not change until the promise
   * settles.
   *
   * @param bytes The bytes to send.
   * @returns How many bytes were written, which may be fewer than given.
   * @throws {Error} When the connection is broken or closed.
   */
  write(bytes: Uint8Array): Promise<number>;
  /** Close the connection at once. Safe to call more than once. */
  close(): void;
}

/**
 * A connection as readers and {@linkcode Transport}s use it: a `Deno.Conn`,
 * or a TLS session over one (`tls_session.ts`).
 */
export type StreamConnection = Pick<
  Deno.Conn,
  "read" | "write" | "close" | "closeWrite" | "remoteAddr"
>;
