/**
 * A chat server that behaves like the original Rust teaching server, for
 * testing the load generator against it: one accept loop; ISSUE_ID on
 * connect; each client's reader does one `read()` of at most 512 bytes,
 * appends it to a 512-byte buffer and handles only the first whole frame in
 * it (the rest waits for the next `read()`; more than 512 unhandled bytes end
 * the connection, where the original panics); a CHAT body is turned into text the way
 * `String::from_utf8_lossy` does and relayed under the ORIGINAL header
 * length, header and body in two separate writes, to every client, the
 * sender included, stamped with the sender's id. Other tags are skipped.
 */

import { HEADER_SIZE, MAX_FRAME_SIZE, Tag } from "../protocol/mod.ts";

/** A running original-like server. */
export interface OriginalServer {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Connections ended because more than 512 bytes piled up unhandled. */
  overflows: number;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

/** Replacement characters for invalid UTF-8, as `from_utf8_lossy` makes. */
const lossyDecoder = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

function header(length: number, tag: number, id: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(length));
  view.setBigUint64(8, BigInt(tag));
  view.setBigUint64(16, BigInt(id));
  return bytes;
}

class OriginalClient {
  readonly id: number;
  readonly conn: Deno.Conn;
  #writing: Promise<void> = Promise.resolve();

  constructor(id: number, conn: Deno.Conn) {
    this.id = id;
    this.conn = conn;
  }

  /** Queue one socket write (its bytes go out before the next write's). */
  write(bytes: Uint8Array): void {
    const conn = this.conn;
    this.#writing = this.#writing.then(async () => {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await conn.write(bytes.subarray(offset));
      }
    }).catch(() => {});
  }
}

/**
 * Start an original-like server on an ephemeral port of 127.0.0.1.
 *
 * @returns The server.
 */
export function startOriginalServer(): OriginalServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const clients = new Set<OriginalClient>();
  const tasks: Promise<void>[] = [];
  let nextId = 1;

  const server: OriginalServer = {
    port: (listener.addr as Deno.NetAddr).port,
    overflows: 0,
    async close() {
      listener.close();
      await accepting;
      for (const client of clients) {
        try {
          client.conn.close();
        } catch {
          // Already closed.
        }
      }
      await Promise.all(tasks);
    },
  };

  const serve = async (client: OriginalClient) => {
    client.write(header(0, Tag.ISSUE_ID, client.id));
    const buffer = new Uint8Array(MAX_FRAME_SIZE);
    const view = new DataView(buffer.buffer);
    const chunk = new Uint8Array(MAX_FRAME_SIZE);
    let filled = 0;
    try {
      for (;;) {
        const count = await client.conn.read(chunk);
        if (count === null) break;
        if (filled + count > buffer.length) {
          server.overflows++;
          break;
        }
        buffer.set(chunk.subarray(0, count), filled);
        filled += count;
        // Only the first whole frame of the buffer, once per read.
        if (filled < HEADER_SIZE) continue;
        const length = Number(view.getBigUint64(0));
        if (length > MAX_FRAME_SIZE - HEADER_SIZE) break;
        const frameEnd = HEADER_SIZE + length;
        if (filled < frameEnd) continue;
        const tag = Number(view.getBigUint64(8));
        const body = buffer.slice(HEADER_SIZE, frameEnd);
        buffer.copyWithin(0, frameEnd, filled);
        filled -= frameEnd;
        if (tag === Tag.CLOSE) break;
        if (tag !== Tag.CHAT) continue;
        const text = encoder.encode(lossyDecoder.decode(body));
        for (const member of clients) {
          member.write(header(length, Tag.CHAT, client.id));
          member.write(text);
        }
      }
    } catch {
      // Connection broken: drop the client.
    }
    clients.delete(client);
    try {
      client.conn.close();
    } catch {
      // Already closed.
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const client = new OriginalClient(nextId++, conn);
        clients.add(client);
        tasks.push(serve(client));
      }
    } catch {
      // Listener closed.
    }
  })();

  return server;
}
