/**
 * Cuts the runs of a batch into chunks, room by room: each chunk holds up
 * to {@linkcode MAX_CHUNK_MESSAGES} messages or about
 * {@linkcode MAX_CHUNK_BYTES} bytes of runs, so the database stores one row
 * per chunk instead of one per message. A run too big for the chunk being
 * filled is split between frames.
 *
 * @module
 */

import { HEADER_SIZE } from "../../protocol/constants.ts";
import { readBodyLength } from "../../protocol/header.ts";
import {
  runCount,
  runEnd,
  runFirstId,
  runFramesLength,
  runFramesStart,
  runNickLength,
  runTime,
  writeRunHeader,
} from "./_run_layout.ts";

/** Most messages in one chunk. */
export const MAX_CHUNK_MESSAGES = 64;
/** Most bytes of runs in one chunk (one frame more when it is empty). */
export const MAX_CHUNK_BYTES = 16 * 1024;

/** Receives each finished chunk; `data` is only valid during the call. */
export type ChunkSink = (
  room: string,
  firstId: number,
  lastId: number,
  oldestTime: number,
  newestTime: number,
  count: number,
  data: Uint8Array,
) => void;

/** Fills one chunk at a time into a buffer it reuses. */
export class ChunkWriter {
  #data = new Uint8Array(2 * MAX_CHUNK_BYTES);
  #view = new DataView(this.#data.buffer);
  #used = 0;
  #room = "";
  #count = 0;
  #firstId = 0;
  #lastId = 0;
  #oldestTime = 0;
  #newestTime = 0;
  #sink: ChunkSink;

  /** @param sink Where finished chunks go. */
  constructor(sink: ChunkSink) {
    this.#sink = sink;
  }

  /**
   * Store every run of a batch, one room after another.
   *
   * @param bytes The batch's runs back to back.
   * @param rooms The room of each run.
   */
  writeBatch(bytes: Uint8Array, rooms: readonly string[]): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const byRoom = new Map<string, number[]>();
    let at = 0;
    for (const room of rooms) {
      const starts = byRoom.get(room);
      if (starts === undefined) byRoom.set(room, [at]);
      else starts.push(at);
      at = runEnd(view, at);
    }
    for (const [room, starts] of byRoom) {
      this.#room = room;
      for (const start of starts) this.#addRun(bytes, view, start);
      this.#emit();
    }
  }

  #addRun(bytes: Uint8Array, view: DataView, start: number): void {
    const framesStart = runFramesStart(view, start);
    const framesEnd = framesStart + runFramesLength(view, start);
    const headerAndNick = framesStart - start;
    const time = runTime(view, start);
    let id = runFirstId(view, start);
    let left = runCount(view, start);
    let from = framesStart;
    while (left > 0) {
      if (this.#count === MAX_CHUNK_MESSAGES) this.#emit();
      const space = MAX_CHUNK_MESSAGES - this.#count;
      const budget = MAX_CHUNK_BYTES - this.#used - headerAndNick;
      let n = left;
      let to = framesEnd;
      if (left > space || framesEnd - from > budget) {
        n = 0;
        to = from;
        while (n < left && n < space) {
          const next = to + HEADER_SIZE + readBodyLength(bytes, to);
          if (next - from > budget && (n > 0 || this.#count > 0)) break;
          to = next;
          n++;
        }
        if (n === 0) {
          this.#emit();
          continue;
        }
      }
      this.#append(bytes, start, headerAndNick, from, to, id, n, time);
      id += n;
      left -= n;
      from = to;
    }
  }

  #append(
    bytes: Uint8Array,
    start: number,
    headerAndNick: number,
    from: number,
    to: number,
    id: number,
    count: number,
    time: number,
  ): void {
    const at = this.#used;
    const end = at + headerAndNick + (to - from);
    if (end > this.#data.length) {
      const grown = new Uint8Array(2 * end);
      grown.set(this.#data.subarray(0, at));
      this.#data = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#data.set(bytes.subarray(start, start + headerAndNick), at);
    this.#data.set(bytes.subarray(from, to), at + headerAndNick);
    const nickLength = runNickLength(this.#view, at);
    writeRunHeader(this.#view, at, id, time, count, to - from, nickLength);
    if (this.#count === 0) {
      this.#firstId = id;
      this.#oldestTime = time;
      this.#newestTime = time;
    }
    this.#lastId = id + count - 1;
    this.#oldestTime = Math.min(this.#oldestTime, time);
    this.#newestTime = Math.max(this.#newestTime, time);
    this.#count += count;
    this.#used = end;
  }

  #emit(): void {
    if (this.#count === 0) return;
    this.#sink(
      this.#room,
      this.#firstId,
      this.#lastId,
      this.#oldestTime,
      this.#newestTime,
      this.#count,
      this.#data.subarray(0, this.#used),
    );
    this.#count = 0;
    this.#used = 0;
  }
}
