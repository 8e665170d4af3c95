/**
 * Redis pub/sub as a load-generator target, for comparison runs: every
 * receiving connection SUBSCRIBEs to one channel, every publisher PUBLISHes
 * on a connection of its own. Minimal RESP2 over raw sockets, parsed in
 * place, so the generator spends the same effort per delivery on either
 * target.
 *
 * @module
 */

import { writePayloadTemplate } from "../payload.ts";
import { ProtocolError, type StreamSink, type Target } from "./target.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const CR = 0x0d;
const ASTERISK = 0x2a;
const COLON = 0x3a;
const DOLLAR = 0x24;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DIGIT_ZERO = 0x30;

/** Incomplete input: wait for more bytes. */
const INCOMPLETE = -1;

/** Where {@linkcode readLineInteger} leaves its result (no allocation). */
let lineValue = 0;

/**
 * Read `<digits>\r\n` at `offset`; the value goes to `lineValue`.
 *
 * @returns The offset past `\n`, or {@linkcode INCOMPLETE}.
 */
function readLineInteger(bytes: Uint8Array, offset: number, end: number) {
  let value = 0;
  let negative = false;
  let position = offset;
  if (position < end && bytes[position] === MINUS) {
    negative = true;
    position++;
  }
  while (position < end) {
    const byte = bytes[position];
    if (byte === CR) {
      if (position + 1 >= end) return INCOMPLETE;
      lineValue = negative ? -value : value;
      return position + 2;
    }
    const digit = byte - DIGIT_ZERO;
    if (digit < 0 || digit > 9) {
      throw new ProtocolError(
        `Redis sent a malformed number at byte ${position - offset}`,
      );
    }
    value = value * 10 + digit;
    position++;
  }
  return INCOMPLETE;
}

/** Offset past the `\r\n` that ends the line at `offset`, or INCOMPLETE. */
function lineEnd(bytes: Uint8Array, offset: number, end: number): number {
  for (let position = offset; position + 1 < end; position++) {
    if (bytes[position] === CR) return position + 2;
  }
  return INCOMPLETE;
}

/** Whether `bytes[offset..]` starts with `prefix` (all of it present). */
function startsWith(
  bytes: Uint8Array,
  offset: number,
  end: number,
  prefix: Uint8Array,
): boolean {
  if (end - offset < prefix.length) return false;
  for (let index = 0; index < prefix.length; index++) {
    if (bytes[offset + index] !== prefix[index]) return false;
  }
  return true;
}

/**
 * A RESP bulk string or integer element inside an array; its position goes
 * to `elementStart`/`elementLength` (-1 length for integers and nil).
 */
let elementStart = 0;
let elementLength = 0;

function readElement(bytes: Uint8Array, offset: number, end: number): number {
  if (offset >= end) return INCOMPLETE;
  const kind = bytes[offset];
  if (kind === DOLLAR) {
    const after = readLineInteger(bytes, offset + 1, end);
    if (after === INCOMPLETE) return INCOMPLETE;
    const length = lineValue;
    if (length < 0) {
      elementStart = after;
      elementLength = -1;
      return after;
    }
    if (after + length + 2 > end) return INCOMPLETE;
    elementStart = after;
    elementLength = length;
    return after + length + 2;
  }
  if (kind === COLON || kind === PLUS || kind === MINUS) {
    const after = lineEnd(bytes, offset + 1, end);
    if (after === INCOMPLETE) return INCOMPLETE;
    elementStart = offset + 1;
    elementLength = -1;
    return after;
  }
  throw new ProtocolError(
    `Redis sent an unexpected element type '${String.fromCharCode(kind)}'`,
  );
}

function equalsText(
  bytes: Uint8Array,
  start: number,
  length: number,
  text: Uint8Array,
): boolean {
  if (length !== text.length) return false;
  for (let index = 0; index < length; index++) {
    if (bytes[start + index] !== text[index]) return false;
  }
  return true;
}

const MESSAGE = encoder.encode("message");
const SUBSCRIBE = encoder.encode("subscribe");
const PONG = encoder.encode("pong");

/**
 * Parse one array push (`message`, `subscribe`, `pong`; others ignored).
 *
 * @returns The offset past it, or INCOMPLETE.
 */
function parseArray(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  end: number,
  sink: StreamSink,
): number {
  let position = readLineInteger(bytes, offset + 1, end);
  if (position === INCOMPLETE) return INCOMPLETE;
  const count = lineValue;
  let kindStart = 0;
  let kindLength = -1;
  let lastStart = 0;
  let lastLength = -1;
  for (let index = 0; index < count; index++) {
    position = readElement(bytes, position, end);
    if (position === INCOMPLETE) return INCOMPLETE;
    if (index === 0) {
      kindStart = elementStart;
      kindLength = elementLength;
    }
    lastStart = elementStart;
    lastLength = elementLength;
  }
  if (count === 3 && equalsText(bytes, kindStart, kindLength, MESSAGE)) {
    sink.delivered(view, lastStart, lastLength, -1);
  } else if (
    count === 3 && equalsText(bytes, kindStart, kindLength, SUBSCRIBE)
  ) {
    sink.joined(0);
  } else if (count === 2 && equalsText(bytes, kindStart, kindLength, PONG)) {
    sink.probeAnswered();
  }
  return position;
}

/**
 * The Redis pub/sub target for one channel.
 *
 * @param channel The channel every receiver subscribes to.
 * @returns The target.
 *
 * @example Usage
 * ```ts
 * import { redisTarget } from "./redis.ts";
 * const target = redisTarget("hubbub-bench");
 * console.log(target.messageSize(64)); // 113
 * ```
 */
export function redisTarget(channel: string): Target {
  const channelBytes = encoder.encode(channel);
  const publishPrefix = encoder.encode(
    `*3\r\n$7\r\nPUBLISH\r\n$${channelBytes.length}\r\n${channel}\r\n$`,
  );
  const messagePrefix = encoder.encode(
    `*3\r\n$7\r\nmessage\r\n$${channelBytes.length}\r\n${channel}\r\n$`,
  );
  const subscribe = encoder.encode(
    `*2\r\n$9\r\nSUBSCRIBE\r\n$${channelBytes.length}\r\n${channel}\r\n`,
  );

  function parse(
    bytes: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    sink: StreamSink,
  ): number {
    let offset = start;
    while (offset < end) {
      const kind = bytes[offset];
      let next: number;
      if (kind === ASTERISK) {
        if (startsWith(bytes, offset, end, messagePrefix)) {
          // The common case: a message on our channel.
          const after = readLineInteger(
            bytes,
            offset + messagePrefix.length,
            end,
          );
          if (after === INCOMPLETE) break;
          next = after + lineValue + 2;
          if (next > end) break;
          sink.delivered(view, after, lineValue, -1);
        } else {
          next = parseArray(bytes, view, offset, end, sink);
        }
      } else if (kind === COLON) {
        next = readLineInteger(bytes, offset + 1, end);
        if (next !== INCOMPLETE) sink.publishAcknowledged(lineValue);
      } else if (kind === MINUS || kind === PLUS) {
        next = lineEnd(bytes, offset + 1, end);
        if (next !== INCOMPLETE && kind === MINUS) {
          sink.serverError(
            decoder.decode(bytes.subarray(offset + 1, next - 2)),
          );
        }
      } else if (kind === DOLLAR) {
        next = readElement(bytes, offset, end);
      } else {
        throw new ProtocolError(
          `Redis sent an unexpected reply type '${String.fromCharCode(kind)}'`,
        );
      }
      if (next === INCOMPLETE) break;
      offset = next;
    }
    return offset;
  }

  return {
    name: "redis",
    separatePublishConnection: true,
    stampsSender: false,
    messageSize(payloadSize: number): number {
      return publishPrefix.length + `${payloadSize}`.length + 2 +
        payloadSize + 2;
    },
    payloadOffset(payloadSize: number): number {
      return publishPrefix.length + `${payloadSize}`.length + 2;
    },
    writeMessageTemplate(
      bytes: Uint8Array,
      offset: number,
      payloadSize: number,
    ): void {
      const header = encoder.encode(`${payloadSize}\r\n`);
      bytes.set(publishPrefix, offset);
      bytes.set(header, offset + publishPrefix.length);
      const payloadStart = offset + publishPrefix.length + header.length;
      writePayloadTemplate(bytes, payloadStart, payloadSize);
      bytes[payloadStart + payloadSize] = CR;
      bytes[payloadStart + payloadSize + 1] = 0x0a;
    },
    joinRequest(room?: string): Uint8Array | null {
      if (room === undefined) return subscribe;
      const name = encoder.encode(room);
      return encoder.encode(
        `*2\r\n$9\r\nSUBSCRIBE\r\n$${name.length}\r\n${room}\r\n`,
      );
    },
    identifyRequest: null,
    probeRequest: encoder.encode("*1\r\n$4\r\nPING\r\n"),
    moveRequest(): Uint8Array | null {
      return null;
    },
    parse,
  };
}
