import type { StreamConnection, Transport } from "../transport.ts";

/**
 * A {@linkcode Transport} over a Deno TCP connection or a TLS session.
 */
export class TcpTransport implements Transport {
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
