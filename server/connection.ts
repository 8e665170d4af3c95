import { ClientWriter, type WriteTotals } from "./client_writer.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Room } from "./room.ts";
import type { AddressRecord } from "./address_limits.ts";
import type { FrameBudget } from "./frame_budget.ts";
import type { AnyTransport, Transport } from "./transport/transport.ts";

/** Where a client is in its life. Only the hub changes it. */
export const ConnectionState = {
  /** Accepted; the hub has not issued an id yet (it may await AUTH). */
  Connecting: 0,
  /** Registered and in a room. */
  Open: 1,
  /** Removed from the hub; its last bytes may still be leaving. */
  Closed: 2,
} as const;

/** One of the values of {@linkcode ConnectionState}. */
export type ConnectionStateValue =
  typeof ConnectionState[keyof typeof ConnectionState];

/**
 * The server's record of one connection, a connected client as the hub sees
 * it: transport-agnostic state plus its outbound {@linkcode ClientWriter}. The hub alone mutates the fields; the
 * connection's reader only reads `state` and trades read buffers through
 * {@linkcode Connection.takeReadBuffer} / {@linkcode Connection.returnReadBuffer}.
 */
export class Connection {
  /** The issued id, 0 until the hub registers the client. */
  id = 0;
  /** The nickname, or `null` when none is set. */
  nickname: string | null = null;
  /** The room the client is in, `null` before registration and after removal. */
  room: Room | null = null;
  /** The client's index in its room's member list (kept by {@linkcode Room}). */
  roomIndex = -1;
  /** See {@linkcode ConnectionState}. */
  state: ConnectionStateValue = ConnectionState.Connecting;
  /**
   * True until the client sends a frame of a tag above CLOSE: until then it
   * may be the original client, and gets only ISSUE_ID, CHAT and CLOSE, one
   * frame per write (see `original_client.ts`).
   */
  original = true;
  /** The client's outbound queue. */
  readonly writer: ClientWriter;
  /** The connection under the client. */
  readonly transport: Transport;
  /** When the connection was accepted (milliseconds since the epoch). */
  readonly connectedAt: number = Date.now();
  /** Frames received from the client. */
  framesIn = 0;
  /** Bytes received from the client. */
  bytesIn = 0;
  /** Frames queued to the client. */
  framesOut = 0;
  /** Set by the outbox while the client is on its list of writers to flush. */
  flushPending = false;
  /** The outbox's number of the last batch that queued output to the client. */
  lastBatch = -1;
  /** When the client last sent anything (hub clock, ms). */
  lastInboundAt = 0;
  /** When the hub last sent it a PING (hub clock, ms). */
  lastPingAt = 0;
  /**
   * When the frame whose start the reader holds began arriving (on
   * {@linkcode Connection.clock}), -1 at a frame boundary. Set by the reader;
   * the hub's frame deadline reads it.
   */
  partialFrameSince = -1;
  /** The hub's clock, which the writer and the reader time with. */
  readonly clock: Clock;
  /** Its frame-rate limits, `null` when there are none (or not yet). */
  rateLimit: FrameBudget | null = null;
  /** What the hub's per-address limits know of its source address while it is connected. */
  address: AddressRecord | null = null;
  /** Frames dropped by the rate limits. */
  rateLimitedFrames = 0;
  /** When it was last told about dropped frames (hub clock, ms). */
  lastRateNoticeAt = -Infinity;
  /** Frames dropped by the rate limits since that notice (a flood beyond a bound). */
  framesOverSinceNotice = 0;
  #spareReadBuffer: Uint8Array | null = null;
  /** The spare was handed over or taken since the last trim. */
  #spareTouched = false;
  /** Bytes of the buffer the reader's pending read holds (set by the reader). */
  readingInto = 0;

  /**
   * @param transport The connection.
   * @param maxPendingBytes Bound of the outbound queue in bytes.
   * @param onWriteFailure Called once when a write to the transport fails.
   * @param totals Server-wide counters of bytes and writes.
   * @param clock The hub's clock (`Hub.clock`).
   */
  constructor(
    transport: AnyTransport,
    maxPendingBytes: number,
    onWriteFailure: (error: unknown) => void,
    totals?: WriteTotals,
    clock: Clock = systemClock,
  ) {
    this.transport = transport;
    this.clock = clock;
    this.writer = new ClientWriter(
      transport,
      maxPendingBytes,
      onWriteFailure,
      totals,
      clock,
    );
    this.writer.framePerWrite = true;
  }

  /**
   * The client has sent a frame of a newer tag: from now on it gets every
   * frame, coalesced into as few writes as possible.
   */
  declareHubbub(): void {
    this.original = false;
    this.writer.framePerWrite = false;
  }

  /**
   * Hand back a read buffer the hub has finished with, for the reader to
   * reuse.
   *
   * @param buffer The buffer of a processed chunk.
   */
  returnReadBuffer(buffer: Uint8Array): void {
    this.#spareReadBuffer = buffer;
    this.#spareTouched = true;
  }

  /**
   * Take the spare read buffer if it has exactly `size` bytes.
   *
   * @param size The wanted size.
   * @returns The buffer, or `null` when there is none of that size.
   */
  takeReadBuffer(size: number): Uint8Array | null {
    const spare = this.#spareReadBuffer;
    this.#spareReadBuffer = null;
    this.#spareTouched = true;
    return spare !== null && spare.length === size ? spare : null;
  }

  /**
   * Drop the spare read buffer if it has not changed hands since the last
   * call, so a connection that has gone quiet holds none. Called on each
   * hub tick.
   */
  trimReadBuffer(): void {
    if (!this.#spareTouched) this.#spareReadBuffer = null;
    this.#spareTouched = false;
  }

  /** Bytes of read buffer memory held for the client: the pending read's and the spare. */
  get readBufferCapacity(): number {
    return this.readingInto + (this.#spareReadBuffer?.length ?? 0);
  }
}
