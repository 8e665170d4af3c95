/**
 * The Deno side of a {@linkcode ChatConnection}: open one over TCP or TLS. A
 * Deno connection is a {@linkcode ByteStream} as it is, so this is all the
 * adapter there is; the frame code stays free of Deno for a browser to
 * reuse over a WebSocket.
 *
 * @module
 */

import { type ByteStream, ChatConnection } from "./chat_connection.ts";

/** Where and how to connect. */
export interface ConnectOptions {
  /** Server host name or address. */
  hostname: string;
  /** Server port. */
  port: number;
  /** Connect with TLS. */
  tls?: boolean;
  /** PEM certificates to trust for TLS besides the system's. */
  caCerts?: string[];
}

/**
 * Open a connection; with TLS, finish the handshake first, so that a
 * certificate problem or a server without TLS shows here.
 *
 * @param options Address and TLS settings.
 * @returns The connection.
 * @throws {Deno.errors.ConnectionRefused} When nothing listens there.
 * @throws {Deno.errors.InvalidData} When the TLS handshake fails.
 *
 * @example Usage
 * ```ts no-eval
 * import { connectTcp } from "./tcp_connect.ts";
 * const connection = await connectTcp({ hostname: "127.0.0.1", port: 9000 });
 * connection.close();
 * ```
 */
export async function connectTcp(
  options: ConnectOptions,
): Promise<ChatConnection> {
  if (!options.tls) {
    const conn = await Deno.connect({
      hostname: options.hostname,
      port: options.port,
    });
    conn.setNoDelay(true);
    return new ChatConnection(conn satisfies ByteStream);
  }
  const conn = await Deno.connectTls({
    hostname: options.hostname,
    port: options.port,
    caCerts: options.caCerts,
  });
  try {
    await conn.handshake();
  } catch (error) {
    conn.close();
    throw error;
  }
  return new ChatConnection(conn satisfies ByteStream);
}
