/**
 * The hubbub wire format as a load-generator target (also spoken by the
 * original Rust server): frames of a 24-byte big-endian header and a body.
 *
 * @module
 */

import {
  encodeFrame,
  HEADER_SIZE,
  MAX_BODY_SIZE,
  Tag,
  writeHeader,
} from "../../../protocol/mod.ts";
import { writePayloadTemplate } from "../payload.ts";
import { ProtocolError, type StreamSink, type Target } from "./target.ts";

const TWO_TO_32 = 0x1_0000_0000;
const decoder = new TextDecoder();
/** A PRESENCE body announcing a join (docs/PROTOCOL.md). */
const JOIN_EVENT = /"event"\s*:\s*"join"/;

/** A frame that is neither CHAT nor ISSUE_ID: rare, off the hot path. */
function controlFrame(
  bytes: Uint8Array,
  bodyStart: number,
  frameEnd: number,
  tag: number,
  senderId: number,
  sink: StreamSink,
): void {
  if (tag > Tag.CLOSE) sink.newerTagSeen();
  if (tag === Tag.PING) {
    sink.pinged(encodeFrame(Tag.PONG, 0, bytes.slice(bodyStart, frameEnd)));
  } else if (tag === Tag.PONG) {
    sink.probeAnswered();
  } else if (tag === Tag.ERROR && senderId === Tag.CHAT) {
    sink.publishRefused();
    sink.serverError(decoder.decode(bytes.subarray(bodyStart, frameEnd)));
  } else if (tag === Tag.PRESENCE) {
    const text = decoder.decode(bytes.subarray(bodyStart, frameEnd));
    if (JOIN_EVENT.test(text)) sink.joinAnnounced(senderId);
  } else if (tag === Tag.ERROR || tag === Tag.CLOSE) {
    const text = decoder.decode(bytes.subarray(bodyStart, frameEnd));
    if (tag === Tag.ERROR || text !== "") sink.serverError(text);
  }
  // Other tags are extensions this generator does not use: skipped.
}

/**
 * Parse hubbub frames: ISSUE_ID joins, CHAT is a delivery stamped with the
 * sender's id, ERROR and CLOSE carry a reason. Reads the header fields with
 * the view, in place: this runs once per delivery, and `DataView` reads are
 * several times faster than the byte-wise helpers of protocol/header.ts
 * (docs/BENCHMARKS.md).
 */
function parseFrames(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  sink: StreamSink,
): number {
  let offset = start;
  while (end - offset >= HEADER_SIZE) {
    const bodyLength = view.getUint32(offset + 4, false);
    if (view.getUint32(offset, false) !== 0 || bodyLength > MAX_BODY_SIZE) {
      throw new ProtocolError(
        `Server sent a frame of ${
          view.getUint32(offset, false) * TWO_TO_32 + bodyLength +
          HEADER_SIZE
        } bytes, over the ${HEADER_SIZE + MAX_BODY_SIZE}-byte limit`,
      );
    }
    const frameEnd = offset + HEADER_SIZE + bodyLength;
    if (frameEnd > end) break;
    const tag = view.getUint32(offset + 12, false) +
      view.getUint32(offset + 8, false) * TWO_TO_32;
    const senderId = view.getUint32(offset + 20, false) +
      view.getUint32(offset + 16, false) * TWO_TO_32;
    if (tag === Tag.CHAT) {
      sink.delivered(view, offset + HEADER_SIZE, bodyLength, senderId);
    } else if (tag === Tag.ISSUE_ID) {
      sink.joined(senderId);
    } else {
      controlFrame(bytes, offset + HEADER_SIZE, frameEnd, tag, senderId, sink);
    }
    offset = frameEnd;
  }
  return offset;
}

/**
 * The hubbub target: every connection receives ISSUE_ID on accept, CHAT
 * frames go out with a zero sender id and come back to every member of the
 * room, the sender included, stamped with the sender's issued id. Every
 * connection sends a PING after connecting: hubbub's PONG tells the
 * generator it may coalesce frames (see {@linkcode Target.identifyRequest}).
 *
 * @example Usage
 * ```ts
 * import { hubbubTarget } from "./hubbub.ts";
 * console.log(hubbubTarget.messageSize(64)); // 88
 * ```
 */
export const hubbubTarget: Target = {
  name: "hubbub",
  separatePublishConnection: false,
  stampsSender: true,
  messageSize(payloadSize: number): number {
    return HEADER_SIZE + payloadSize;
  },
  payloadOffset(): number {
    return HEADER_SIZE;
  },
  writeMessageTemplate(
    bytes: Uint8Array,
    offset: number,
    payloadSize: number,
  ): void {
    writeHeader(bytes, offset, payloadSize, Tag.CHAT, 0);
    writePayloadTemplate(bytes, offset + HEADER_SIZE, payloadSize);
  },
  joinRequest(): Uint8Array | null {
    return null;
  },
  identifyRequest: encodeFrame(Tag.PING, 0),
  probeRequest: encodeFrame(Tag.PING, 0),
  moveRequest(room: string): Uint8Array | null {
    return encodeFrame(Tag.JOIN, 0, room);
  },
  parse: parseFrames,
};

/**
 * The hubbub target for a server started with `--token-file`: every
 * connection sends AUTH with the token first (the server issues its id only
 * then).
 *
 * @param token The token.
 * @returns The target.
 */
export function authenticatingHubbubTarget(token: string): Target {
  const auth = encodeFrame(Tag.AUTH, 0, token);
  return { ...hubbubTarget, joinRequest: () => auth };
}
