/**
 * The byte layout of a run: consecutive messages of one room from one
 * sender, recorded together (one id range, nick and time). A batch posted
 * to the worker is runs back to back, and so is a stored chunk's `data`,
 * so the worker cuts chunks out of a batch without touching each message.
 *
 * A run is a header, then the nick's UTF-8 bytes, then the CHAT frames as
 * relayed (24-byte header with body length and sender id, then the body).
 * Header fields (little-endian): first id f64, time f64, count u32, frames
 * length u32, nick length u16 ({@linkcode NO_NICK} for none).
 *
 * @module
 */

/** Bytes of a run header. */
export const RUN_HEADER = 26;
/** The nick length that means "no nick". */
export const NO_NICK = 0xffff;

const FIRST_ID = 0;
const TIME = 8;
const COUNT = 16;
const FRAMES_LENGTH = 20;
const NICK_LENGTH = 24;

/**
 * Write a run header at `at`.
 *
 * @param view The buffer's view.
 * @param at Where the header starts.
 * @param firstId The id of the run's first message.
 * @param time Server time of the run, ms since the epoch.
 * @param count Messages in the run.
 * @param framesLength Bytes of the run's frames.
 * @param nickLength Bytes of the nick, or {@linkcode NO_NICK}.
 */
export function writeRunHeader(
  view: DataView,
  at: number,
  firstId: number,
  time: number,
  count: number,
  framesLength: number,
  nickLength: number,
): void {
  view.setFloat64(at + FIRST_ID, firstId, true);
  view.setFloat64(at + TIME, time, true);
  view.setUint32(at + COUNT, count, true);
  view.setUint32(at + FRAMES_LENGTH, framesLength, true);
  view.setUint16(at + NICK_LENGTH, nickLength, true);
}

/** The id of the first message of the run at `at`. */
export function runFirstId(view: DataView, at: number): number {
  return view.getFloat64(at + FIRST_ID, true);
}

/** The server time of the run at `at`. */
export function runTime(view: DataView, at: number): number {
  return view.getFloat64(at + TIME, true);
}

/** How many messages the run at `at` holds. */
export function runCount(view: DataView, at: number): number {
  return view.getUint32(at + COUNT, true);
}

/** Bytes of the frames of the run at `at`. */
export function runFramesLength(view: DataView, at: number): number {
  return view.getUint32(at + FRAMES_LENGTH, true);
}

/** Bytes of the nick of the run at `at` ({@linkcode NO_NICK}: none). */
export function runNickLength(view: DataView, at: number): number {
  return view.getUint16(at + NICK_LENGTH, true);
}

/** Where the frames of the run at `at` start. */
export function runFramesStart(view: DataView, at: number): number {
  const nick = runNickLength(view, at);
  return at + RUN_HEADER + (nick === NO_NICK ? 0 : nick);
}

/** Where the run after the one at `at` starts. */
export function runEnd(view: DataView, at: number): number {
  return runFramesStart(view, at) + runFramesLength(view, at);
}
