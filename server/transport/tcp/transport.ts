import type { StreamTransport } from "../transport.ts";

/**
 * A connection as readers and stream transports use it: a `Deno.Conn`, or a
 * TLS session over one (`tls_session.ts`).
 */
export type StreamConnection = Pick<
  Deno.Conn,
  "read" | "write" | "close" | "closeWrite" | "remoteAddr"
>;

/**
 * A {@linkcode StreamTransport} over a Deno TCP connection or a TLS session.
 */
export class TcpTransport implements StreamTransport {
  readonly remoteAddress: string;
  #conn: StreamConnection;
  #closed = false;

  /** @param conn The accepted connection. */
  constructor(conn: StreamConnection) {
    this.#conn = conn;
    const address = conn.remoteAddr as Deno.NetAddr;
    this.remoteAddress = `${address.hostname}:${address.port}`;
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed under us (the peer reset it): nothing left to do.
    }
  }
}
