/**
 * The records gathered since the last post to the history worker, packed
 * as runs (see `_run_layout.ts`) into one growing buffer, each run's room as
 * an index into the batch's room names, so recording allocates nothing but
 * the occasional growth, posting clones no string per run, and the worker
 * can store the runs as they are.
 *
 * @module
 */

import { NO_NICK, RUN_HEADER, writeRunHeader } from "./_run_layout.ts";
import type { BatchMessage } from "./_worker_protocol.ts";

const encoder = new TextEncoder();

/** Records not yet posted to the worker. */
export class PendingBatch {
  #capacity: number;
  #bytes: Uint8Array;
  #view: DataView;
  #used = 0;
  #roomNames: string[] = [];
  #roomIndex = new Map<string, number>();
  #runRooms = new Uint32Array(256);
  #runs = 0;
  #messages = 0;

  /** @param capacity The buffer size to start each batch with, in bytes. */
  constructor(capacity: number) {
    this.#capacity = Math.max(capacity, 512);
    this.#bytes = new Uint8Array(this.#capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** Bytes held (frames and run headers). */
  get bytes(): number {
    return this.#used;
  }

  /** Messages held. */
  get messages(): number {
    return this.#messages;
  }

  /**
   * Copy a run of frames in.
   *
   * @param room The room.
   * @param firstId The id of the first frame.
   * @param frames The frames, valid only during the call.
   * @param count How many frames.
   * @param nick The sender's nickname or null.
   * @param time Server time in ms since the epoch.
   */
  add(
    room: string,
    firstId: number,
    frames: Uint8Array,
    count: number,
    nick: string | null,
    time: number,
  ): void {
    // A UTF-16 unit takes at most 3 UTF-8 bytes.
    const nickRoom = nick === null ? 0 : nick.length * 3;
    const start = this.#used;
    this.#reserve(start + RUN_HEADER + nickRoom + frames.length);
    const bytes = this.#bytes;
    let at = start + RUN_HEADER;
    let nickLength = NO_NICK;
    if (nick !== null) {
      at = writeNick(bytes, at, nick);
      nickLength = at - start - RUN_HEADER;
    }
    bytes.set(frames, at);
    writeRunHeader(
      this.#view,
      start,
      firstId,
      time,
      count,
      frames.length,
      nickLength,
    );
    this.#used = at + frames.length;
    let index = this.#roomIndex.get(room);
    if (index === undefined) {
      index = this.#roomNames.push(room) - 1;
      this.#roomIndex.set(room, index);
    }
    if (this.#runs === this.#runRooms.length) {
      const grown = new Uint32Array(2 * this.#runs);
      grown.set(this.#runRooms);
      this.#runRooms = grown;
    }
    this.#runRooms[this.#runs++] = index;
    this.#messages += count;
  }

  /**
   * Post everything held to `port` (the buffers are transferred, the room
   * names cloned) and start empty.
   *
   * @param port Where to post.
   */
  postTo(
    port: { postMessage(message: unknown, transfer: Transferable[]): void },
  ): void {
    const bytes = this.#bytes.subarray(0, this.#used);
    const runRooms = this.#runRooms.subarray(0, this.#runs);
    const message: BatchMessage = {
      type: "batch",
      bytes,
      roomNames: this.#roomNames,
      runRooms,
      messages: this.#messages,
    };
    port.postMessage(message, [
      bytes.buffer as ArrayBuffer,
      runRooms.buffer as ArrayBuffer,
    ]);
    this.#bytes = new Uint8Array(this.#capacity);
    this.#view = new DataView(this.#bytes.buffer);
    this.#used = 0;
    this.#roomNames = [];
    this.#roomIndex.clear();
    this.#runRooms = new Uint32Array(256);
    this.#runs = 0;
    this.#messages = 0;
  }

  #reserve(end: number): void {
    if (end <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(end, this.#bytes.length * 2));
    grown.set(this.#bytes.subarray(0, this.#used));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/** Write `nick` as UTF-8 at `at`; returns where it ends. */
function writeNick(bytes: Uint8Array, at: number, nick: string): number {
  // Nicks are nearly always ASCII: copy those without a view per record.
  for (let i = 0; i < nick.length; i++) {
    const unit = nick.charCodeAt(i);
    if (unit >= 0x80) {
      return at + encoder.encodeInto(nick, bytes.subarray(at)).written;
    }
    bytes[at + i] = unit;
  }
  return at + nick.length;
}
