/**
 * Cuts the messages past the retention bounds out of a chunk's runs, for a
 * prune that finds a chunk straddling a bound.
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

/**
 * The runs of `data` without the messages with an id up to `keepAbove` or
 * older than `oldestTime`.
 *
 * @param data Runs back to back.
 * @param keepAbove Messages with an id up to this go.
 * @param oldestTime Messages older than this go.
 * @returns The runs kept, back to back, and how many.
 */
export function trimRuns(
  data: Uint8Array,
  keepAbove: number,
  oldestTime: number,
): { bytes: Uint8Array; runs: number } {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const kept = new Uint8Array(data.length);
  const keptView = new DataView(kept.buffer);
  let used = 0;
  let runs = 0;
  for (let at = 0; at < data.length; at = runEnd(view, at)) {
    const firstId = runFirstId(view, at);
    const count = runCount(view, at);
    const time = runTime(view, at);
    if (time < oldestTime || firstId + count - 1 <= keepAbove) continue;
    const framesStart = runFramesStart(view, at);
    const framesEnd = framesStart + runFramesLength(view, at);
    let id = firstId;
    let from = framesStart;
    while (id <= keepAbove) {
      from += HEADER_SIZE + readBodyLength(data, from);
      id++;
    }
    kept.set(data.subarray(at, framesStart), used);
    writeRunHeader(
      keptView,
      used,
      id,
      time,
      firstId + count - id,
      framesEnd - from,
      runNickLength(view, at),
    );
    used += framesStart - at;
    kept.set(data.subarray(from, framesEnd), used);
    used += framesEnd - from;
    runs++;
  }
  return { bytes: kept.subarray(0, used), runs };
}
