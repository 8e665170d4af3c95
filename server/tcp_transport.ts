import type { Transport } from "./transport.ts";

/**
 * A {@linkcode Transport} over a Deno TCP or TLS connection.
 */
export class TcpTransport implements Transport {
  readonly remoteAddress: string;
  #conn: Deno.Conn;
  #closed = false;

  /** @param conn The accepted connection. */
  constructor(conn: Deno.Conn) {
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
