/**
 * Server-side TLS over a TCP connection the server keeps hold of.
 *
 * `Deno.listenTls` is not used: closing a `Deno.TlsConn` whose handshake has
 * not finished leaves its TCP socket open (Deno waits for the handshake to
 * shut the session down gracefully), so a peer that connects and stays
 * silent would hold a descriptor forever, whatever the handshake timeout.
 * Here the accept loop takes plain TCP connections and node:tls runs the
 * session over each; closing a session closes its TCP connection, which
 * frees the descriptor at once.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { Duplex } from "node:stream";
import tls from "node:tls";
import type { StreamConnection } from "./transport.ts";

/** Bytes asked of the TCP connection per read. */
const TCP_READ_SIZE = 16 * 1024;

/**
 * Check a PEM certificate chain and private key, and make the context
 * sessions use.
 *
 * @param pem The certificate chain and the key, PEM text.
 * @returns The context for {@linkcode TlsSession}.
 * @throws {Error} Saying which of the two is unusable, or that they do not
 * belong together.
 */
export function createTlsContext(
  pem: { cert: string; key: string },
): tls.SecureContext {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem.cert);
  } catch (error) {
    throw new Error(`no PEM certificate in the certificate data (${error})`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(pem.key);
  } catch (error) {
    throw new Error(`no PEM private key in the key data (${error})`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new Error("the private key does not belong to the certificate");
  }
  return tls.createSecureContext({ cert: pem.cert, key: pem.key });
}

/** A Node duplex stream over a Deno connection, for node:tls to run on. */
class ConnectionStream extends Duplex {
  #conn: Deno.Conn;

  constructor(conn: Deno.Conn) {
    super({ allowHalfOpen: true });
    this.#conn = conn;
  }

  override _read(): void {
    // A new buffer per read: node:tls keeps pushed chunks until it has
    // decrypted them.
    const buffer = new Uint8Array(TCP_READ_SIZE);
    this.#conn.read(buffer).then(
      (count) => this.push(count === null ? null : buffer.subarray(0, count)),
      (error) => this.destroy(error),
    );
  }

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    done: (error?: Error | null) => void,
  ): void {
    writeAll(this.#conn, chunk).then(() => done(), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.#conn.closeWrite().then(() => done(), () => done());
  }

  override _destroy(
    error: Error | null,
    done: (error?: Error | null) => void,
  ): void {
    closeQuietly(this.#conn);
    done(error);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * The server side of one TLS session over an accepted TCP connection. It
 * reads and writes like a `Deno.Conn` (see {@linkcode StreamConnection}),
 * and {@linkcode TlsSession.close} closes the TCP connection too, even in
 * the middle of the handshake.
 */
export class TlsSession implements StreamConnection {
  readonly remoteAddr: Deno.Addr;
  #tcp: Deno.Conn;
  #socket: tls.TLSSocket;
  #handshake = Promise.withResolvers<void>();
  #secure = false;
  #chunk: Uint8Array | null = null;
  #chunkOffset = 0;
  #ended = false;
  #closed = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  /**
   * Start the handshake on `tcp`.
   *
   * @param tcp The accepted TCP connection; the session owns it.
   * @param context From {@linkcode createTlsContext}.
   */
  constructor(tcp: Deno.Conn, context: tls.SecureContext) {
    this.#tcp = tcp;
    this.remoteAddr = tcp.remoteAddr;
    const stream = new ConnectionStream(tcp);
    // The TCP side breaking (a reset) ends the session; never unhandled.
    stream.on("error", (error: Error) => {
      this.#error ??= error;
      this.#notify();
    });
    const socket = new tls.TLSSocket(stream, {
      isServer: true,
      secureContext: context,
    });
    this.#socket = socket;
    // Handled so that a rejected handshake is never reported as unhandled.
    this.#handshake.promise.catch(() => {});
    socket.on("secure", () => {
      this.#secure = true;
      this.#handshake.resolve();
    });
    socket.on("readable", () => this.#notify());
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#handshake.reject(error);
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#handshake.reject(
        new Deno.errors.ConnectionReset("closed during the TLS handshake"),
      );
      this.#notify();
    });
  }

  /**
   * Settles when the handshake is done.
   *
   * @returns A promise that rejects if the handshake fails or the session
   * is closed first.
   */
  handshake(): Promise<void> {
    return this.#handshake.promise;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * Read decrypted bytes into `buffer`.
   *
   * @param buffer Where the bytes go.
   * @returns How many were read, or `null` at the end of the stream.
   * @throws {Error} When the session broke or was closed.
   */
  async read(buffer: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) {
        throw new Deno.errors.BadResource("connection closed");
      }
      const chunk = this.#chunk;
      if (chunk !== null) {
        const count = Math.min(buffer.length, chunk.length - this.#chunkOffset);
        buffer.set(
          chunk.subarray(this.#chunkOffset, this.#chunkOffset + count),
        );
        this.#chunkOffset += count;
        if (this.#chunkOffset === chunk.length) this.#chunk = null;
        return count;
      }
      if (this.#secure) {
        const next: Uint8Array | null = this.#socket.read();
        if (next !== null && next.length > 0) {
          this.#chunk = next;
          this.#chunkOffset = 0;
          continue;
        }
      }
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /**
   * Encrypt and send all of `bytes`; the buffer must not change until the
   * promise settles.
   *
   * @param bytes The bytes.
   * @returns `bytes.length`, once they have been handed to the TCP side.
   */
  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed || this.#socket.destroyed) {
      return Promise.reject(new Deno.errors.BadResource("connection closed"));
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(
        bytes,
        (error) => error ? reject(error) : resolve(bytes.length),
      );
    });
  }

  /**
   * End the sending side (TLS close_notify, then TCP FIN); reading goes on.
   *
   * @returns A promise that settles once the end has been sent.
   */
  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  /** Close the session and its TCP connection at once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    closeQuietly(this.#tcp);
    this.#notify();
  }
}
