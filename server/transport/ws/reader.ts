/**
 * The inbound side of a WebSocket connection: read the socket, parse the
 * client's WebSocket frames, and post the hubbub frames they carry to the
 * hub, exactly one per binary message, so a browser is the same kind of
 * client as a TCP one from its first byte on.
 *
 * @module
 */

import {
  HEADER_SIZE,
  MAX_FRAME_SIZE,
  readBodyLength,
} from "../../../protocol/mod.ts";
import type { Channel } from "../../channel.ts";
import { type Connection, ConnectionState } from "../../connection.ts";
import type { HubEvent } from "../../events.ts";
import { reportReadFailure } from "../_connection_error.ts";
import type { WebSocketConnection, WebSocketTransport } from "./transport.ts";
import {
  controlFrame,
  type FrameHeader,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  readFrameHeader as readHeader,
  unmaskInto,
} from "./wire.ts";

/** First read buffer: holds a whole largest message (14 + 512 bytes). */
const MIN_READ_BUFFER = 1024;
/** Largest read buffer a busy connection grows to. */
const MAX_READ_BUFFER = 64 * 1024;
/** Small reads in a row after which the read buffer shrinks by half. */
const SMALL_READS_BEFORE_SHRINK = 32;

/** Why the reader stops: a protocol violation, posted as such. */
class Violation extends Error {}

/**
 * Read one upgraded connection until it ends, posting each read's hubbub
 * frames as one `frames` event (unmasked into a buffer of their own, which
 * the hub hands back for reuse), then `gone`; a message that is not one
 * whole hubbub frame in a binary message is a `violation` (ERROR, then
 * close, as on TCP): a text message, one over 512 bytes (refused from its
 * header, before its payload is read), one holding a partial frame or
 * several, a fragmented one, an unmasked one. A close from the peer is
 * `gone` at a frame boundary, so what is queued for it still leaves; a
 * ping is answered with a pong. While the hub's inbox is full the reader
 * stops reading, and TCP flow control slows the sender. The read buffer
 * starts at 1 KiB, doubles while reads fill it (to 64 KiB) and halves after
 * a run of small reads.
 *
 * Never throws.
 *
 * @param conn The upgraded socket.
 * @param transport Its outbound side (for pongs).
 * @param client The hub's client for it.
 * @param channel The hub's inbox.
 * @param early Bytes that arrived after the request head, before the upgrade.
 */
export async function readWebSocket(
  conn: WebSocketConnection,
  transport: WebSocketTransport,
  client: Connection,
  channel: Channel<HubEvent>,
  early: Uint8Array = new Uint8Array(0),
): Promise<void> {
  let size = Math.max(MIN_READ_BUFFER, early.length);
  let input = new Uint8Array(size);
  input.set(early);
  let used = early.length;
  let smallReads = 0;
  /** Bytes that came with the upgrade wait to be parsed before any read. */
  let readFirst = early.length === 0;
  const header: FrameHeader = {
    fin: false,
    reserved: false,
    opcode: 0,
    masked: false,
    length: 0,
    headerLength: 0,
    maskAt: 0,
  };
  const clock = client.clock;
  try {
    for (;;) {
      if (readFirst) {
        if (channel.full) {
          await channel.whenNotFull();
          if (used > 0) client.partialFrameSince = clock.now();
        }
        if (client.state === ConnectionState.Closed) return;
        client.readingInto = input.length;
        const count = await conn.read(input.subarray(used));
        client.readingInto = 0;
        if (count === null) {
          channel.push({
            kind: "gone",
            client,
            detail: used === 0
              ? "closed by peer without a close frame"
              : "closed by peer in the middle of a message",
          });
          return;
        }
        if (count === input.length - used) {
          if (size < MAX_READ_BUFFER) size *= 2;
          smallReads = 0;
        } else if (count < size >>> 3 && size > MIN_READ_BUFFER) {
          if (++smallReads >= SMALL_READS_BEFORE_SHRINK) {
            size >>>= 1;
            smallReads = 0;
          }
        }
        used += count;
      }
      readFirst = true;
      let out: Uint8Array | null = null;
      let outEnd = 0;
      let offset = 0;
      let peerClosed = false;
      while (readFrameHeaderChecked(input, offset, used, header)) {
        const frameEnd = offset + header.headerLength + header.length;
        if (frameEnd > used) break;
        if (header.opcode === Opcode.Binary) {
          out ??= client.takeReadBuffer(input.length) ??
            new Uint8Array(input.length);
          unmaskInto(input, header.maskAt, header.length, out, outEnd);
          const carried = HEADER_SIZE + readBodyLength(out, outEnd);
          if (carried !== header.length) {
            throw new Violation(
              carried < header.length
                ? "a WebSocket message must hold one frame: this one holds several"
                : "a WebSocket message must hold one whole frame: this one holds part of one",
            );
          }
          outEnd += header.length;
        } else if (header.opcode === Opcode.Ping) {
          const payload = new Uint8Array(header.length);
          unmaskInto(input, header.maskAt, header.length, payload, 0);
          transport.sendPong(controlFrame(Opcode.Pong, payload));
        } else if (header.opcode === Opcode.Close) {
          peerClosed = true;
          offset = frameEnd;
          break;
        }
        // A pong (unsolicited: the server sends hubbub PINGs) is skipped.
        offset = frameEnd;
      }
      if (out !== null && outEnd > 0) {
        channel.push(
          { kind: "frames", client, bytes: out, end: outEnd },
          outEnd,
        );
      }
      if (peerClosed) {
        channel.push({
          kind: "gone",
          client,
          detail: "closed by peer",
          endOfInput: true,
        });
        return;
      }
      if (offset > 0) {
        input.copyWithin(0, offset, used);
        used -= offset;
      }
      if (size !== input.length) {
        // Grown after full reads, or shrunk after a run of small ones (what
        // is left, part of one message, always fits).
        const next = new Uint8Array(size);
        next.set(input.subarray(0, used));
        input = next;
      }
      // The frame deadline runs from the first byte of each message.
      if (used === 0) client.partialFrameSince = -1;
      else if (offset > 0 || client.partialFrameSince < 0) {
        client.partialFrameSince = clock.now();
      }
    }
  } catch (error) {
    reportReadFailure(channel, client, error, error instanceof Violation);
  }
}

/**
 * Read a frame header and refuse, from the header alone, what the gateway
 * never accepts.
 */
function readFrameHeaderChecked(
  bytes: Uint8Array,
  offset: number,
  end: number,
  header: FrameHeader,
): boolean {
  if (!readHeader(bytes, offset, end, header)) return false;
  if (!header.masked) throw new Violation("unmasked WebSocket frame");
  if (header.reserved) throw new Violation("WebSocket extension bits set");
  const opcode = header.opcode;
  if (opcode >= Opcode.Close) {
    if (opcode > Opcode.Pong) throw new Violation("unknown WebSocket opcode");
    if (!header.fin || header.length > MAX_CONTROL_PAYLOAD) {
      throw new Violation("malformed WebSocket control frame");
    }
    return true;
  }
  if (opcode === Opcode.Text) {
    throw new Violation("text message: hubbub messages are binary frames");
  }
  if (opcode !== Opcode.Binary || !header.fin) {
    throw new Violation("fragmented WebSocket message");
  }
  if (header.length > MAX_FRAME_SIZE) {
    throw new Violation(
      `WebSocket message of ${header.length} bytes exceeds the ${MAX_FRAME_SIZE}-byte frame limit`,
    );
  }
  if (header.length < HEADER_SIZE) {
    throw new Violation(
      "a WebSocket message must hold one whole frame: this one holds part of one",
    );
  }
  return true;
}
