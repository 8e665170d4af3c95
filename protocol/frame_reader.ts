import { HEADER_SIZE, MAX_FRAME_SIZE } from "./constants.ts";
import type { Frame } from "./frame.ts";
import {
  checkFrameSize,
  readBodyLength,
  readSenderId,
  readTag,
} from "./header.ts";

const EMPTY = new Uint8Array(0);

/**
 * Incremental frame decoder: the original server's "message reader".
 *
 * Give it bytes as they arrive with {@linkcode FrameReader.push}, then call
 * {@linkcode FrameReader.next} until it returns `null`. It reassembles frames
 * split across chunks (byte by byte in the worst case) and yields several
 * frames from one chunk. It never holds more than one partial frame of its
 * own (at most `MAX_FRAME_SIZE` bytes): a frame lying wholly inside a chunk is
 * returned as a view of that chunk, without copying. It does no I/O.
 *
 * @example Usage
 * ```ts
 * import { FrameReader } from "./frame_reader.ts";
 * import { encodeFrame } from "./frame.ts";
 * import { Tag } from "./constants.ts";
 *
 * const reader = new FrameReader();
 * const bytes = encodeFrame(Tag.CHAT, 7, "hi");
 * reader.push(bytes.subarray(0, 10));
 * console.log(reader.next()); // null: only part of the header so far
 * reader.push(bytes.subarray(10));
 * console.log(reader.next()?.senderId); // 7
 * ```
 */
export class FrameReader {
  #partial = new Uint8Array(MAX_FRAME_SIZE);
  #partialLength = 0;
  #chunk: Uint8Array = EMPTY;
  #offset = 0;

  /**
   * Number of bytes held back as the start of an incomplete frame (always
   * less than `MAX_FRAME_SIZE`).
   */
  get bufferedBytes(): number {
    return this.#partialLength;
  }

  /**
   * Hand the reader the next chunk of the stream.
   *
   * The reader keeps a reference to `chunk` until {@linkcode next} has
   * returned `null`; frames it returns may be views of it, so do not reuse the
   * chunk's memory before you are done with those frames.
   *
   * @param chunk The bytes that arrived next.
   * @throws {Error} When the previous chunk has not been read to the end.
   */
  push(chunk: Uint8Array): void {
    if (this.#offset < this.#chunk.length) {
      throw new Error("Previous chunk not read to the end: call next() first");
    }
    this.#chunk = chunk;
    this.#offset = 0;
  }

  /**
   * The next complete frame, or `null` when the bytes given so far hold none.
   *
   * @returns A frame whose body is a view of a pushed chunk, or a copy when
   * the frame was split across chunks; `null` when more bytes are needed.
   * @throws {FrameTooLargeError} When a header announces a frame over
   * `MAX_FRAME_SIZE`. The stream cannot be resynchronised after that.
   */
  next(): Frame | null {
    if (this.#partialLength > 0) return this.#nextFromPartial();
    const chunk = this.#chunk;
    const offset = this.#offset;
    const available = chunk.length - offset;
    checkFrameSize(chunk, offset, chunk.length);
    if (available >= HEADER_SIZE) {
      const frameSize = HEADER_SIZE + readBodyLength(chunk, offset);
      if (available >= frameSize) {
        this.#offset = offset + frameSize;
        return frameAt(chunk, offset, frameSize, false);
      }
    }
    this.#partial.set(chunk.subarray(offset));
    this.#partialLength = available;
    this.#offset = chunk.length;
    return null;
  }

  #nextFromPartial(): Frame | null {
    if (this.#partialLength < HEADER_SIZE) {
      this.#take(HEADER_SIZE - this.#partialLength);
      if (this.#partialLength < HEADER_SIZE) return null;
      checkFrameSize(this.#partial, 0, HEADER_SIZE);
    }
    const frameSize = HEADER_SIZE + readBodyLength(this.#partial, 0);
    this.#take(frameSize - this.#partialLength);
    if (this.#partialLength < frameSize) return null;
    this.#partialLength = 0;
    return frameAt(this.#partial, 0, frameSize, true);
  }

  #take(wanted: number): void {
    const count = Math.min(wanted, this.#chunk.length - this.#offset);
    this.#partial.set(
      this.#chunk.subarray(this.#offset, this.#offset + count),
      this.#partialLength,
    );
    this.#offset += count;
    this.#partialLength += count;
  }
}

function frameAt(
  bytes: Uint8Array,
  offset: number,
  frameSize: number,
  copy: boolean,
): Frame {
  const body = bytes.subarray(offset + HEADER_SIZE, offset + frameSize);
  return {
    tag: readTag(bytes, offset),
    senderId: readSenderId(bytes, offset),
    body: copy ? body.slice() : body,
  };
}
