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

/**
 * Fills one chunk at a time. Whole runs that lie back to back in the batch
 * are passed on as one view of it; the rest is copied into a buffer reused
 * for every chunk.
 */
export class ChunkWriter {
  #data = new Uint8Array(2 * MAX_CHUNK_BYTES);
  #view = new DataView(this.#data.buffer);
  #used = 0;
  #source: Uint8Array | null = null;
  #spanStart = 0;
  #spanEnd = 0;
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
   * @param roomNames The rooms of the batch.
   * @param runRooms For each run, the index of its room in `roomNames`.
   */
  writeBatch(
    bytes: Uint8Array,
    roomNames: readonly string[],
    runRooms: ArrayLike<number>,
  ): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const byRoom = new Map<string, number[]>();
    let at = 0;
    for (let i = 0; i < runRooms.length; i++) {
      const room = roomNames[runRooms[i]];
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
    this.#source = null;
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
      const held = this.#used + this.#spanEnd - this.#spanStart;
      const budget = MAX_CHUNK_BYTES - held - headerAndNick;
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
      if (from === framesStart && to === framesEnd) {
        this.#appendWhole(bytes, start, framesEnd);
      } else {
        this.#flushSpan();
        const at = this.#append(bytes, start, headerAndNick, from, to);
        const nickLength = runNickLength(this.#view, at);
        writeRunHeader(this.#view, at, id, time, n, to - from, nickLength);
      }
      this.#counted(id, n, time);
      id += n;
      left -= n;
      from = to;
    }
  }

  /** A whole run: extend the span when it follows on, else start one. */
  #appendWhole(bytes: Uint8Array, start: number, end: number): void {
    if (this.#source === bytes && this.#spanEnd === start) {
      this.#spanEnd = end;
      return;
    }
    this.#flushSpan();
    this.#source = bytes;
    this.#spanStart = start;
    this.#spanEnd = end;
  }

  /** Copy the span into the buffer. */
  #flushSpan(): void {
    if (this.#spanEnd === this.#spanStart) return;
    const at = this.#reserve(this.#spanEnd - this.#spanStart);
    this.#data.set(this.#source!.subarray(this.#spanStart, this.#spanEnd), at);
    this.#spanStart = this.#spanEnd = 0;
  }

  /** Make room for `length` more bytes; returns where they go. */
  #reserve(length: number): number {
    const at = this.#used;
    const end = at + length;
    if (end > this.#data.length) {
      const grown = new Uint8Array(2 * end);
      grown.set(this.#data.subarray(0, at));
      this.#data = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#used = end;
    return at;
  }

  /** Copy part of a run (frames `from` to `to`) with its header redone. */
  #append(
    bytes: Uint8Array,
    start: number,
    headerAndNick: number,
    from: number,
    to: number,
  ): number {
    const at = this.#reserve(headerAndNick + (to - from));
    this.#data.set(bytes.subarray(start, start + headerAndNick), at);
    this.#data.set(bytes.subarray(from, to), at + headerAndNick);
    return at;
  }

  #counted(id: number, count: number, time: number): void {
    if (this.#count === 0) {
      this.#firstId = id;
      this.#oldestTime = time;
      this.#newestTime = time;
    }
    this.#lastId = id + count - 1;
    this.#oldestTime = Math.min(this.#oldestTime, time);
    this.#newestTime = Math.max(this.#newestTime, time);
    this.#count += count;
  }

  #emit(): void {
    if (this.#count === 0) return;
    let data: Uint8Array;
    if (this.#used === 0) {
      data = this.#source!.subarray(this.#spanStart, this.#spanEnd);
      this.#spanStart = this.#spanEnd = 0;
    } else {
      this.#flushSpan();
      data = this.#data.subarray(0, this.#used);
    }
    this.#sink(
      this.#room,
      this.#firstId,
      this.#lastId,
      this.#oldestTime,
      this.#newestTime,
      this.#count,
      data,
    );
    this.#count = 0;
    this.#used = 0;
  }
}
