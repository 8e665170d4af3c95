import {
  checkFrameSize,
  completeFramesEnd,
  FrameTooLargeError,
} from "../../../protocol/mod.ts";
import { reportReadFailure } from "../_connection_error.ts";
import type { Channel } from "../../channel.ts";
import { type Connection, ConnectionState } from "../../connection.ts";
import type { HubEvent } from "../../events.ts";
import type { StreamConnection } from "./transport.ts";

/** First and smallest read buffer: small, so idle connections stay cheap. */
export const MIN_READ_BUFFER = 1024;
/** Largest read buffer a busy connection grows to. */
export const MAX_READ_BUFFER = 64 * 1024;
/**
 * Largest read buffer a quiet connection waits with. Past it, a read that
 * leaves the socket empty at a frame boundary is followed by a one-byte
 * read, and the buffer waits as the client's spare, which the hub drops once
 * a tick has passed without it changing hands.
 */
export const IDLE_READ_BUFFER = 8 * 1024;
/** What the reader holds while its buffer waits as the client's spare. */
const PARKED = new Uint8Array(0);
/** Small reads in a row after which the read buffer shrinks by half. */
const SMALL_READS_BEFORE_SHRINK = 32;

/**
 * The reader task of one connection: read bytes, cut them at frame
 * boundaries, and post each chunk of whole frames to the hub.
 *
 * A chunk is handed to the hub without copying; the reader continues into
 * another buffer (the hub returns processed ones for reuse, so a steady
 * stream allocates nothing). Only the start of a frame that is still
 * arriving, under `MAX_FRAME_SIZE` bytes, is copied to the next buffer. The
 * buffer starts at {@linkcode MIN_READ_BUFFER} bytes, doubles while reads fill
 * it and halves again after a run of small reads. While the hub's channel is
 * full the reader stops reading, so TCP flow control slows the sender. A
 * connection gone quiet keeps at most {@linkcode IDLE_READ_BUFFER} bytes of
 * read buffer. It
 * records when the frame it holds the start of began arriving
 * (`Connection.partialFrameSince`), for the hub's frame deadline.
 *
 * Never throws: the end of the connection, a broken one and a protocol
 * violation are all posted to the hub as events.
 *
 * @param conn The connection to read.
 * @param client The hub's client for this connection.
 * @param channel The hub's inbox.
 */
export async function readConnection(
  conn: StreamConnection,
  client: Connection,
  channel: Channel<HubEvent>,
): Promise<void> {
  let size = MIN_READ_BUFFER;
  let buffer: Uint8Array = new Uint8Array(size);
  let used = 0;
  let smallReads = 0;
  let drained = false;
  const probe = new Uint8Array(1);
  const clock = client.clock;
  try {
    for (;;) {
      if (channel.full) {
        await channel.whenNotFull();
        // The server was not reading: the frame's time starts again.
        if (used > 0) client.partialFrameSince = clock.now();
      }
      if (client.state === ConnectionState.Closed) return;
      if (drained && used === 0 && buffer.length > IDLE_READ_BUFFER) {
        // Wait for the next byte without holding the big buffer.
        client.returnReadBuffer(buffer);
        buffer = PARKED;
        client.readingInto = 1;
        const got = await conn.read(probe);
        client.readingInto = 0;
        if (got === null) break;
        buffer = client.takeReadBuffer(size) ?? new Uint8Array(size);
        buffer[0] = probe[0];
        used = 1;
        client.partialFrameSince = clock.now();
      }
      client.readingInto = buffer.length;
      const count = await conn.read(
        used === 0 ? buffer : buffer.subarray(used),
      );
      client.readingInto = 0;
      if (count === null) break;
      const before = used;
      drained = count < buffer.length - before;
      const end = used + count;
      const complete = completeFramesEnd(buffer, 0, end);
      if (count === buffer.length - used) {
        if (size < MAX_READ_BUFFER) size *= 2;
        smallReads = 0;
      } else if (count < size >>> 3 && size > MIN_READ_BUFFER) {
        if (++smallReads >= SMALL_READS_BEFORE_SHRINK) {
          size >>>= 1;
          smallReads = 0;
        }
      }
      if (complete === 0 && size === buffer.length) {
        used = end;
      } else {
        const next = client.takeReadBuffer(size) ?? new Uint8Array(size);
        if (complete < end) next.set(buffer.subarray(complete, end));
        used = end - complete;
        if (complete > 0) {
          channel.push(
            { kind: "frames", client, bytes: buffer, end: complete },
            complete,
          );
        }
        buffer = next;
      }
      // The frame deadline runs from the first byte of each frame.
      if (used === 0) client.partialFrameSince = -1;
      else if (complete > 0 || before === 0) {
        client.partialFrameSince = clock.now();
      }
      // What is left is the start of a frame: refuse it now if its header
      // already announces too much.
      checkFrameSize(buffer, 0, used);
    }
    // At a frame boundary the peer may only have half-closed, and still
    // read: the hub decides. In the middle of a frame it is gone.
    channel.push(
      used === 0
        ? { kind: "gone", client, detail: "closed by peer", endOfInput: true }
        : {
          kind: "gone",
          client,
          detail: "closed by peer in the middle of a frame",
        },
    );
  } catch (error) {
    reportReadFailure(
      channel,
      client,
      error,
      error instanceof FrameTooLargeError,
    );
  }
}
