/**
 * The byte pipe under a hub client, in its two kinds. The hub never sees a
 * socket: it writes through a transport, so a TCP connection today and a
 * WebSocket tomorrow are the same kind of client to it.
 *
 * A stream socket takes bytes when the kernel has room: its `write` settles
 * later, with how many it took, and the writer keeps one write in flight. A
 * message socket (a WebSocket) takes every message at once and holds what it
 * has not sent yet (`bufferedAmount`); its `send` never blocks, so the
 * writer asks it how many bytes it still holds. Either way the writer's
 * queue plus what the transport has not sent counts against the client's
 * pending bound, so a client that stops reading is a slow consumer on every
 * transport alike.
 *
 * @module
 */

/** What every transport has; all the hub itself uses. */
export interface Transport {
  /** The peer's address for logs and stats, for example `127.0.0.1:50312`. */
  readonly remoteAddress: string;
  /**
   * Close the connection. What the transport has accepted may still leave
   * (as a TCP socket's kernel buffer does); nothing more is taken. Safe to
   * call more than once.
   */
  close(): void;
}

/** A stream socket (TCP, TLS): bytes leave as the peer's window allows. */
export interface StreamTransport extends Transport {
  /**
   * Write some of `bytes`. The buffer must not change until the promise
   * settles.
   *
   * @param bytes The bytes to send.
   * @returns How many bytes were written, which may be fewer than given.
   * @throws {Error} When the connection is broken or closed.
   */
  write(bytes: Uint8Array): Promise<number>;
}

/** A message socket (a WebSocket): every send is taken at once. */
export interface MessageTransport extends Transport {
  /**
   * Send `bytes` as one message. The transport takes them at once (a copy:
   * the buffer may change as soon as this returns) and holds them until they
   * leave.
   *
   * @param bytes The bytes to send.
   * @throws {Error} When the connection is broken or closed.
   */
  send(bytes: Uint8Array): void;
  /**
   * Bytes taken by {@linkcode MessageTransport.send} and not sent yet (a
   * WebSocket's `bufferedAmount`): they count against the client's pending
   * bound as the bytes of a write in flight do on a stream.
   */
  readonly unsentBytes: number;
}

/** A transport of either kind, as a client's writer takes it. */
export type AnyTransport = StreamTransport | MessageTransport;

/**
 * Whether a transport is a message socket.
 *
 * @param transport The transport.
 * @returns `true` for a {@linkcode MessageTransport}.
 */
export function isMessageTransport(
  transport: AnyTransport,
): transport is MessageTransport {
  return "send" in transport;
}
