/**
 * Answers a query from the chunks that overlap its id range, read in id
 * order: keeps exactly the messages inside the range, the first `limit` of
 * them as entries, and counts how many there are in all.
 *
 * @module
 */

import { HEADER_SIZE } from "../../protocol/constants.ts";
import { readBodyLength, readSenderId } from "../../protocol/header.ts";
import {
  NO_NICK,
  RUN_HEADER,
  runCount,
  runEnd,
  runFirstId,
  runFramesStart,
  runNickLength,
  runTime,
} from "./_run_layout.ts";

const decoder = new TextDecoder();

/** One message found. */
export interface FoundMessage {
  id: number;
  sender: number;
  nick: string | null;
  time: number;
  body: Uint8Array;
}

/** Collects one query's answer, chunk by chunk. */
export class ChunkReader {
  /** The first `limit` messages found, in id order. */
  readonly found: FoundMessage[] = [];
  /** How many messages inside the range there are in all. */
  inRange = 0;
  #low: number;
  #high: number;
  #limit: number;

  /**
   * @param low Lowest id wanted.
   * @param high Highest id wanted.
   * @param limit Most messages to return.
   */
  constructor(low: number, high: number, limit: number) {
    this.#low = low;
    this.#high = high;
    this.#limit = Math.max(0, limit);
  }

  /** True once the entries are all found: later chunks only need counting. */
  get full(): boolean {
    return this.found.length >= this.#limit;
  }

  /** Whether a chunk lies inside the range, so counting it needs no decoding. */
  holdsOnlyWanted(firstId: number, lastId: number): boolean {
    return firstId >= this.#low && lastId <= this.#high;
  }

  /** Count `count` messages known to lie inside the range. */
  countWanted(count: number): void {
    this.inRange += count;
  }

  /** Read one chunk's runs. */
  addChunk(data: Uint8Array): void {
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    for (let at = 0; at < data.length; at = runEnd(view, at)) {
      const firstId = runFirstId(view, at);
      const low = Math.max(firstId, this.#low);
      const high = Math.min(firstId + runCount(view, at) - 1, this.#high);
      if (low > high) continue;
      this.inRange += high - low + 1;
      if (!this.full) this.#take(data, view, at, firstId, low, high);
    }
  }

  #take(
    data: Uint8Array,
    view: DataView,
    at: number,
    firstId: number,
    low: number,
    high: number,
  ): void {
    const nickLength = runNickLength(view, at);
    const nick = nickLength === NO_NICK ? null : decoder.decode(
      data.subarray(at + RUN_HEADER, at + RUN_HEADER + nickLength),
    );
    const time = runTime(view, at);
    let frame = runFramesStart(view, at);
    for (let id = firstId; id <= high && !this.full; id++) {
      const length = readBodyLength(data, frame);
      const body = frame + HEADER_SIZE;
      if (id >= low) {
        this.found.push({
          id,
          sender: readSenderId(data, frame),
          nick,
          time,
          body: data.subarray(body, body + length),
        });
      }
      frame = body + length;
    }
  }
}
