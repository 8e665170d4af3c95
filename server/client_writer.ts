import { HEADER_SIZE, readBodyLength } from "../protocol/mod.ts";
import { type Clock, type ClockTimer, systemClock } from "./clock.ts";
import {
  type AnyTransport,
  isMessageTransport,
  type MessageTransport,
  type StreamTransport,
} from "./transport/transport.ts";

/** Server-wide counters a writer adds to. */
export interface WriteTotals {
  /** Bytes written to clients. */
  bytesOut: number;
  /** Socket writes made. */
  writes: number;
}

/** Size of the first outgoing buffer a writer allocates. */
const INITIAL_BUFFER_SIZE = 256;

/**
 * A client's outbound queue and writer.
 *
 * The hub appends frames with {@linkcode ClientWriter.append} (a copy into one
 * growable buffer, no socket call) and calls {@linkcode ClientWriter.flush}
 * once per batch of events. A flush writes everything pending in one
 * `write` call; frames appended while that write is in flight go into a
 * second buffer and leave in the next write, so a client costs one socket
 * write per event-loop turn however many frames it receives. The two buffers
 * trade places and are reused; {@linkcode ClientWriter.trim} drops them while
 * the client is idle so that idle connections stay small. With
 * {@linkcode ClientWriter.framePerWrite} each write carries one frame
 * instead (for the original client, which handles one frame per read).
 *
 * Over a message transport (a WebSocket) a flush sends everything queued at
 * once instead, one message per frame, and what the transport has not sent
 * yet counts as the bytes of a write in flight do.
 *
 * The queue is bounded: an append that would take the pending bytes (queued,
 * and held by the transport) over the limit is refused, and the caller
 * disconnects the slow consumer.
 *
 * @example Usage
 * ```ts no-eval
 * const writer = new ClientWriter(transport, 1 << 20, (error) => console.log(error));
 * if (!writer.append(frame)) console.log("slow consumer");
 * writer.flush();
 * ```
 */
export class ClientWriter {
  #transport: AnyTransport;
  /** The transport when it is a stream: writes, one in flight. */
  #stream: StreamTransport | null;
  /** The transport when it takes messages: what is queued is sent on flush. */
  #messages: MessageTransport | null;
  #maxPendingBytes: number;
  #onFailure: (error: unknown) => void;
  #buffer: Uint8Array | null = null;
  #length = 0;
  #spare: Uint8Array | null = null;
  /**
   * Bytes handed to the transport and not sent yet: a stream's write in
   * flight, or what a message transport held when last asked (it only
   * shrinks between sends, so a refusal asks again).
   */
  #inFlight = 0;
  #writing = false;
  #closed = false;
  /** A write failed: the peer is gone, and the failure callback says so. */
  #failed = false;
  #closeWhenFlushed = false;
  #lingerTimer: ClockTimer | undefined;
  #usedSinceTrim = false;
  #whenClosed: PromiseWithResolvers<void> | null = null;
  /** See {@linkcode ClientWriter.writeStartedAt}. */
  #stalledSince = -1;
  /** Bytes handed to the transport so far. */
  bytesWritten = 0;
  /** Frames that had not been handed to the transport whole when it was closed. */
  unsentAtClose = 0;
  /** The buffer being written, while a write loop runs. */
  #flight: Uint8Array | null = null;
  /** Bytes of `#flight` that make up whole frames to write. */
  #flightEnd = 0;
  /** Bytes of `#flight` handed to the transport so far. */
  #flightWritten = 0;
  /**
   * Write one frame per `write` call, the next only once the previous one
   * has completed, instead of everything pending at once: for a client that
   * may handle only the first frame of each read (the original client).
   * Read once per buffer, so a change applies from the next buffer on.
   */
  framePerWrite = false;

  #totals: WriteTotals;
  #clock: Clock;

  /**
   * @param transport Where the bytes go.
   * @param maxPendingBytes The most bytes that may wait to be written.
   * @param onFailure Called once if a write fails (not after
   * {@linkcode close}).
   * @param totals Server-wide counters of bytes and writes.
   * @param clock Times the writes (the hub's write deadline) and the linger.
   */
  constructor(
    transport: AnyTransport,
    maxPendingBytes: number,
    onFailure: (error: unknown) => void,
    totals: WriteTotals = { bytesOut: 0, writes: 0 },
    clock: Clock = systemClock,
  ) {
    this.#transport = transport;
    this.#messages = isMessageTransport(transport) ? transport : null;
    this.#stream = isMessageTransport(transport) ? null : transport;
    this.#maxPendingBytes = maxPendingBytes;
    this.#onFailure = onFailure;
    this.#totals = totals;
    this.#clock = clock;
  }

  /**
   * Bytes not yet sent: queued, or handed to the transport and still held
   * by it (a write in flight, a message transport's unsent bytes). The
   * pending bound applies to this.
   */
  get pendingBytes(): number {
    return this.#length + this.#unsentBytes();
  }

  /**
   * Since when the transport has taken nothing of what waits for it (on the
   * writer's clock), or -1 when nothing waits: on a stream, when the write
   * in flight started; on a message transport, when its unsent bytes began
   * or last shrank (looked at on each send and each read of this). The
   * hub's write deadline reads it.
   */
  get writeStartedAt(): number {
    if (this.#messages !== null) this.#unsentBytes();
    return this.#stalledSince;
  }

  /** Bytes queued and not yet handed to the transport. */
  get queuedBytes(): number {
    return this.#length;
  }

  /** Bytes of buffer memory this writer holds now. */
  get bufferedCapacity(): number {
    return (this.#buffer?.length ?? 0) + (this.#spare?.length ?? 0);
  }

  /** True once the writer has been closed (no more bytes will be written). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queue bytes for the client. Nothing is written until
   * {@linkcode flush}.
   *
   * @param bytes The bytes to queue; they are copied.
   * @returns `false`, queueing nothing, when the bytes would take the
   * pending total over the limit or the writer is closing. After a failed
   * write it returns `true` and drops the bytes: the peer is gone, which the
   * failure callback reports, and it is no slow consumer.
   */
  append(bytes: Uint8Array): boolean {
    if (this.#failed) return true;
    const length = this.#length;
    const needed = length + bytes.length;
    if (
      this.#closed || this.#closeWhenFlushed ||
      (needed + this.#inFlight > this.#maxPendingBytes &&
        needed + this.#unsentBytes() > this.#maxPendingBytes)
    ) {
      return false;
    }
    this.#copyIn(bytes, needed);
    this.#usedSinceTrim = true;
    return true;
  }

  /**
   * Start writing what is queued, unless a write is already in flight (the
   * running write picks it up when it completes). Never waits.
   */
  flush(): void {
    if (this.#writing || this.#closed || this.#length === 0) return;
    if (this.#messages !== null) this.#sendQueued(this.#messages);
    // Not awaited: the loop reports failure through onFailure.
    else this.#writeLoop();
  }

  /**
   * Queue a control frame (ERROR, CLOSE) even past the pending limit, so a
   * client being dropped for a full queue still learns why.
   *
   * @param bytes The bytes to queue; they are copied.
   * @returns `false` when the writer is closed.
   */
  appendControl(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    this.#copyIn(bytes, this.#length + bytes.length);
    return true;
  }

  /** Copy `bytes` after what is queued, growing the buffer to `needed`. */
  #copyIn(bytes: Uint8Array, needed: number): void {
    let buffer = this.#buffer;
    if (buffer === null || needed > buffer.length) buffer = this.#grow(needed);
    buffer.set(bytes, this.#length);
    this.#length = needed;
  }

  /**
   * Drop the queued bytes that have not been handed to the transport yet.
   * Bytes in flight still complete, so the stream stays frame-aligned.
   */
  discardQueued(): void {
    this.#length = 0;
  }

  /**
   * Close the transport once everything queued has been written, or after
   * `lingerMs` at the latest. Further appends are refused.
   *
   * @param lingerMs The longest to wait for the peer to take the bytes.
   */
  closeWhenFlushed(lingerMs: number): void {
    if (this.#closed || this.#closeWhenFlushed) return;
    this.#closeWhenFlushed = true;
    if (!this.#writing && this.#length === 0) {
      this.close();
      return;
    }
    this.#lingerTimer = this.#clock.timer(() => this.close());
    this.#lingerTimer.schedule(lingerMs);
    this.flush();
  }

  /**
   * Close the transport at once, dropping anything not yet written (their
   * frames are counted in {@linkcode ClientWriter.unsentAtClose}).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.unsentAtClose = this.#unsentFrames();
    this.#lingerTimer?.close();
    this.#buffer = null;
    this.#spare = null;
    this.#length = 0;
    this.#transport.close();
    this.#whenClosed?.resolve();
    this.#whenClosed = null;
  }

  /**
   * A promise that settles once the writer is closed (the transport too).
   *
   * @returns A promise resolved on close.
   */
  whenClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#whenClosed ??= Promise.withResolvers<void>();
    return this.#whenClosed.promise;
  }

  /**
   * Release the buffers if nothing has been queued since the last call and
   * nothing is pending, so that an idle client holds no outgoing memory.
   * Meant to be called periodically.
   */
  trim(): void {
    if (!this.#usedSinceTrim && !this.#writing && this.#length === 0) {
      this.#buffer = null;
      this.#spare = null;
    }
    this.#usedSinceTrim = false;
  }

  /**
   * Frames not yet handed to the transport whole: those queued, and those
   * of the buffer in flight not completely written.
   */
  #unsentFrames(): number {
    let frames = 0;
    const buffer = this.#buffer;
    if (buffer !== null) frames += framesEndingAfter(buffer, this.#length, 0);
    const flight = this.#flight;
    if (flight !== null) {
      frames += framesEndingAfter(flight, this.#flightEnd, this.#flightWritten);
    }
    return frames;
  }

  #grow(needed: number): Uint8Array {
    const old = this.#buffer;
    const spare = this.#spare;
    if (old === null && spare !== null && spare.length >= needed) {
      this.#spare = null;
      this.#buffer = spare;
      return spare;
    }
    let size = Math.max(INITIAL_BUFFER_SIZE, (old?.length ?? 0) * 2);
    while (size < needed) size *= 2;
    const buffer = new Uint8Array(size);
    if (old !== null && this.#length > 0) {
      buffer.set(old.subarray(0, this.#length));
    }
    this.#buffer = buffer;
    return buffer;
  }

  /**
   * Bytes handed to the transport and not sent yet; for a message
   * transport, asked of it now (see {@linkcode ClientWriter.writeStartedAt}).
   */
  #unsentBytes(): number {
    const messages = this.#messages;
    if (messages !== null) this.#noteUnsent(messages.unsentBytes, 0);
    return this.#inFlight;
  }

  /**
   * Note what a message transport holds, `sent` bytes after it was last
   * asked: less than it held then plus those is progress, which restarts
   * the stall time, as a completed write does on a stream.
   */
  #noteUnsent(unsent: number, sent: number): void {
    if (unsent === 0) this.#stalledSince = -1;
    else if (this.#stalledSince === -1 || unsent < this.#inFlight + sent) {
      this.#stalledSince = this.#clock.now();
    }
    this.#inFlight = unsent;
  }

  /**
   * Send everything queued to a message transport, which takes it at once,
   * one message per frame (a WebSocket message carries exactly one frame,
   * both ways). The buffer stays for the next frames (the transport copied
   * these).
   */
  #sendQueued(transport: MessageTransport): void {
    const buffer = this.#buffer!;
    const length = this.#length;
    let offset = 0;
    try {
      while (offset < length) {
        const stop = offset + HEADER_SIZE + readBodyLength(buffer, offset);
        transport.send(buffer.subarray(offset, stop));
        this.bytesWritten += stop - offset;
        this.#totals.bytesOut += stop - offset;
        this.#totals.writes++;
        offset = stop;
      }
    } catch (error) {
      // What was not taken stays queued, for the count of unsent frames.
      buffer.copyWithin(0, offset, length);
      this.#length = length - offset;
      if (!this.#closed) {
        this.#failed = true;
        this.close();
        this.#onFailure(error);
      }
      return;
    }
    this.#length = 0;
    this.#noteUnsent(transport.unsentBytes, length);
    if (this.#closeWhenFlushed) this.close();
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#length > 0 && !this.#closed) {
        const buffer = this.#buffer!;
        const length = this.#length;
        this.#buffer = this.#spare;
        this.#spare = null;
        this.#length = 0;
        this.#inFlight = length;
        this.#flight = buffer;
        this.#flightEnd = length;
        this.#flightWritten = 0;
        // The queue holds whole frames, so a buffer starts at a frame.
        const framePerWrite = this.framePerWrite;
        let frameEnd = 0;
        let offset = 0;
        while (offset < length) {
          let stop = length;
          if (framePerWrite) {
            if (offset >= frameEnd) {
              frameEnd = offset + HEADER_SIZE + readBodyLength(buffer, offset);
            }
            stop = frameEnd;
          }
          this.#stalledSince = this.#clock.now();
          const written = await this.#stream!.write(
            buffer.subarray(offset, stop),
          );
          offset += written;
          this.#flightWritten = offset;
          this.#inFlight -= written;
          this.bytesWritten += written;
          this.#totals.bytesOut += written;
          this.#totals.writes++;
        }
        if (this.#closed) return;
        this.#flight = null;
        this.#spare = buffer;
      }
    } catch (error) {
      if (!this.#closed) {
        this.#failed = true;
        this.close();
        this.#onFailure(error);
      }
      return;
    } finally {
      this.#writing = false;
      this.#flight = null;
      this.#inFlight = 0;
      this.#stalledSince = -1;
    }
    if (this.#closeWhenFlushed) this.close();
  }
}

/**
 * Frames of `buffer[0..end)` (whole frames from 0) that end after byte
 * `from`: those not completely written when `from` bytes were.
 */
function framesEndingAfter(
  buffer: Uint8Array,
  end: number,
  from: number,
): number {
  let frames = 0;
  let offset = 0;
  while (offset < end) {
    offset += HEADER_SIZE + readBodyLength(buffer, offset);
    if (offset > from) frames++;
  }
  return frames;
}
