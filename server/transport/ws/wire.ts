/**
 * The WebSocket wire format (RFC 6455) as far as the gateway needs it: the
 * opening handshake's accept key, frame headers read from a client (masked,
 * 7-, 16- or 64-bit lengths), and the unmasked binary and control frames
 * the server sends.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** WebSocket opcodes. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Longest payload of a control frame (ping, pong, close). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Longest header of a frame from a client: 2 + 8 (length) + 4 (mask). */
export const MAX_CLIENT_HEADER = 14;

/** The GUID every accept key is derived with (RFC 6455 section 1.3). */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * The `Sec-WebSocket-Accept` value that answers a `Sec-WebSocket-Key`.
 *
 * @param key The client's key, as sent.
 * @returns base64(SHA-1(key + GUID)).
 */
export function webSocketAccept(key: string): string {
  return createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
}

/** A frame header read by {@linkcode readFrameHeader} (reused, not kept). */
export interface FrameHeader {
  /** The final fragment of its message. */
  fin: boolean;
  /** Reserved bits set (no extension was agreed, so none may be). */
  reserved: boolean;
  /** See {@linkcode Opcode}. */
  opcode: number;
  /** Whether the payload is masked (a client's must be). */
  masked: boolean;
  /** Payload length; a 64-bit length past 2^53 reads as `Infinity`. */
  length: number;
  /** Bytes of the header, mask key included. */
  headerLength: number;
  /** Where the 4-byte mask key starts, when masked. */
  maskAt: number;
}

/**
 * Read the frame header at `offset`.
 *
 * @param bytes The received bytes.
 * @param offset Where the frame starts.
 * @param end Where the received bytes end.
 * @param header Filled in.
 * @returns `false` when the header has not arrived whole yet.
 */
export function readFrameHeader(
  bytes: Uint8Array,
  offset: number,
  end: number,
  header: FrameHeader,
): boolean {
  if (end - offset < 2) return false;
  const first = bytes[offset];
  const second = bytes[offset + 1];
  const masked = (second & 0x80) !== 0;
  let length = second & 0x7f;
  let at = offset + 2;
  if (length === 126) {
    if (end - at < 2) return false;
    length = (bytes[at] << 8) | bytes[at + 1];
    at += 2;
  } else if (length === 127) {
    if (end - at < 8) return false;
    const high = ((bytes[at] << 24) | (bytes[at + 1] << 16) |
      (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
    const low = ((bytes[at + 4] << 24) | (bytes[at + 5] << 16) |
      (bytes[at + 6] << 8) | bytes[at + 7]) >>> 0;
    length = high >= 0x200000 ? Infinity : high * 0x1_0000_0000 + low;
    at += 8;
  }
  if (masked) {
    if (end - at < 4) return false;
  }
  header.fin = (first & 0x80) !== 0;
  header.reserved = (first & 0x70) !== 0;
  header.opcode = first & 0x0f;
  header.masked = masked;
  header.length = length;
  header.maskAt = at;
  header.headerLength = at + (masked ? 4 : 0) - offset;
  return true;
}

/**
 * Copy a masked payload to `to`, unmasking it.
 *
 * @param bytes The received bytes.
 * @param maskAt Where the mask key is; the payload follows it.
 * @param length Payload length.
 * @param to Where the unmasked payload goes.
 * @param toOffset Where in `to`.
 */
export function unmaskInto(
  bytes: Uint8Array,
  maskAt: number,
  length: number,
  to: Uint8Array,
  toOffset: number,
): void {
  const m0 = bytes[maskAt];
  const m1 = bytes[maskAt + 1];
  const m2 = bytes[maskAt + 2];
  const m3 = bytes[maskAt + 3];
  const from = maskAt + 4;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    to[toOffset + i] = bytes[from + i] ^ m0;
    to[toOffset + i + 1] = bytes[from + i + 1] ^ m1;
    to[toOffset + i + 2] = bytes[from + i + 2] ^ m2;
    to[toOffset + i + 3] = bytes[from + i + 3] ^ m3;
  }
  for (; i < length; i++) {
    to[toOffset + i] = bytes[from + i] ^ bytes[maskAt + (i & 3)];
  }
}

/**
 * Bytes of the header of an unmasked server frame with `length` bytes of
 * payload.
 *
 * @param length Payload length.
 * @returns 2, 4 or 10.
 */
export function serverHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

/**
 * Write the header of a final, unmasked server frame.
 *
 * @param to Where to write.
 * @param offset Where in `to`.
 * @param opcode See {@linkcode Opcode}.
 * @param length Payload length.
 * @returns Bytes written ({@linkcode serverHeaderLength}).
 */
export function writeServerHeader(
  to: Uint8Array,
  offset: number,
  opcode: number,
  length: number,
): number {
  to[offset] = 0x80 | opcode;
  if (length < 126) {
    to[offset + 1] = length;
    return 2;
  }
  if (length < 0x10000) {
    to[offset + 1] = 126;
    to[offset + 2] = length >>> 8;
    to[offset + 3] = length & 0xff;
    return 4;
  }
  to[offset + 1] = 127;
  const high = Math.floor(length / 0x1_0000_0000);
  for (let i = 0; i < 4; i++) {
    to[offset + 2 + i] = (high >>> (24 - 8 * i)) & 0xff;
    to[offset + 6 + i] = (length >>> (24 - 8 * i)) & 0xff;
  }
  return 10;
}

/**
 * A whole control frame from the server.
 *
 * @param opcode Close, ping or pong.
 * @param payload At most {@linkcode MAX_CONTROL_PAYLOAD} bytes.
 * @returns The frame.
 */
export function controlFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(2 + payload.length);
  writeServerHeader(frame, 0, opcode, payload.length);
  frame.set(payload, 2);
  return frame;
}

/**
 * A close frame with a status code (1000 normal, 1008 policy violation,
 * 1009 too big…).
 *
 * @param code The status code.
 * @returns The frame.
 */
export function closeFrame(code: number): Uint8Array {
  return controlFrame(Opcode.Close, new Uint8Array([code >>> 8, code & 0xff]));
}
