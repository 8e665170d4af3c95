/**
 * A scripted server for client tests: a real loopback listener the test
 * accepts on and writes exact frames to, reading back exactly what the
 * client sent.
 */

import {
  encodeFrame,
  encodeJsonBody,
  FrameReader,
  Tag,
} from "../protocol/mod.ts";
import { deadline } from "./_deadline.ts";
import { text } from "./_raw_client.ts";

/** A listener on 127.0.0.1 whose accepted connections are closed with it. */
export class ScriptedPeer {
  readonly port: number;
  #listener: Deno.Listener;
  #open: Deno.Conn[] = [];

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
  }

  /** The next connection, within `timeoutMs` (`what` names it on timeout). */
  async accept(timeoutMs: number, what: string): Promise<Deno.Conn> {
    const conn = await deadline(this.#listener.accept(), timeoutMs, what);
    this.#open.push(conn);
    return conn;
  }

  /** Close every accepted connection still open, then the listener. */
  close(): void {
    for (const conn of this.#open) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
    this.#listener.close();
  }
}

/** Run `body` with a fresh scripted peer, closed afterwards. */
export async function withScriptedPeer(
  body: (peer: ScriptedPeer) => Promise<void>,
): Promise<void> {
  const peer = new ScriptedPeer();
  try {
    await body(peer);
  } finally {
    peer.close();
  }
}

/** Read frames from `conn` until one of `tag`; all of them, in order, as [tag, text]. */
export function framesUntil(
  conn: Deno.Conn,
  reader: FrameReader,
  tag: number,
  timeoutMs = 20_000,
): Promise<[number, string][]> {
  return deadline(
    (async () => {
      const frames: [number, string][] = [];
      const buffer = new Uint8Array(4096);
      for (;;) {
        for (let f = reader.next(); f !== null; f = reader.next()) {
          frames.push([f.tag, text(f)]);
          if (f.tag === tag) return frames;
        }
        const n = await conn.read(buffer);
        if (n === null) throw new Error("connection ended");
        reader.push(buffer.slice(0, n));
      }
    })(),
    timeoutMs,
    `a frame of tag ${tag}`,
  );
}

/** A PRESENCE frame about client `id`; `lastId` adds a join's last_id. */
export function presenceFrame(
  id: number,
  event: "join" | "nick",
  room: string,
  nick: string | null,
  lastId?: number,
): Uint8Array {
  const presence = lastId === undefined
    ? { event, room, id, nick }
    : { event, room, id, nick, last_id: lastId };
  return encodeFrame(Tag.PRESENCE, id, encodeJsonBody(presence));
}
