/**
 * The hubbub wire format, shared by the server, the terminal client and the
 * load generator: header layout, tags, limits, frame encoding and an
 * incremental frame reader. No I/O happens here.
 *
 * @example Usage
 * ```ts
 * import { encodeFrame, FrameReader, Tag } from "./mod.ts";
 *
 * const reader = new FrameReader();
 * reader.push(encodeFrame(Tag.CHAT, 1, "hello"));
 * const frame = reader.next();
 * console.log(frame?.tag === Tag.CHAT); // true
 * ```
 *
 * @module
 */

export {
  HEADER_SIZE,
  MAX_BODY_SIZE,
  MAX_FRAME_SIZE,
  Tag,
  tagName,
  type TagValue,
} from "./constants.ts";
export { FrameTooLargeError } from "./errors.ts";
export { encodeFrame, type Frame } from "./frame.ts";
export { FrameReader } from "./frame_reader.ts";
export {
  decodeJsonBody,
  encodeJsonBody,
  type MemberEntry,
  type MoreEntry,
  type Presence,
  type RoomEntry,
} from "./messages.ts";
export {
  decodeHistoryEnd,
  decodeHistoryEntry,
  encodeHistoryEnd,
  encodeHistoryEntry,
  encodeHistoryRequest,
  type HistoryEnd,
  type HistoryEntry,
  type HistoryRequest,
  type HistoryRequestParse,
  parseHistoryRequest,
} from "./history.ts";
export {
  LOBBY,
  MAX_NICKNAME_BYTES,
  MAX_ROOM_NAME_BYTES,
  nicknameProblem,
  roomNameProblem,
} from "./names.ts";
export { nicknameKey, normalizeName } from "./name_key.ts";
export {
  checkFrameSize,
  completeFramesEnd,
  readBodyLength,
  readSenderId,
  readTag,
  writeHeader,
  writeSenderId,
} from "./header.ts";
