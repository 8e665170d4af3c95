/**
 * A deliberately faulty chat server for testing the load generator: it
 * speaks the hubbub protocol (issues ids, relays CHAT to every client, the
 * sender included, stamped with the sender's id, answers PING) but breaks one promise in a
 * countable way, so a test can check that the generator reports exactly
 * that.
 */

import { encodeFrame, FrameReader, Tag } from "../protocol/mod.ts";

/** How the server misbehaves. */
export type Fault =
  /** Relay every CHAT faithfully (a control). */
  | "none"
  /** Drop every 10th delivery to each client. */
  | "drop-every-10th"
  /**
   * Hold back every 10th delivery to each client and send it after the next
   * one (or after 100 ms when no next one comes).
   */
  | "reorder-every-10th"
  /** Send every 10th delivery to each client twice. */
  | "duplicate-every-10th"
  /** Stamp every CHAT with a sender id one too high. */
  | "wrong-sender"
  /**
   * Never deliver anything to one client: at the first CHAT, the one with
   * the highest id other than the sender's.
   */
  | "starve-one"
  /**
   * To one client (the highest id at the first CHAT), deliver the first
   * message after the next one from another sender: each sender's own
   * order is kept, but that client sees another total order than the rest.
   */
  | "swap-for-one"
  /**
   * Like a cluster node whose room subscription takes a while: ISSUE_ID at
   * once, but a client becomes a member (gets deliveries) only with its
   * `join` PRESENCE, sent {@linkcode LATE_JOIN_MS} after its first PING.
   */
  | "late-join-confirmation";

/** A running faulty server. */
export interface FaultyServer {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

const HELD_MESSAGE_FLUSH_MS = 100;
/** late-join-confirmation: the delay of each join confirmation. */
export const LATE_JOIN_MS = 700;

class FaultyClient {
  readonly id: number;
  readonly conn: Deno.Conn;
  deliveries = 0;
  held: Uint8Array | null = null;
  /** swap-for-one: frames held back behind the first, and its sender. */
  swapQueue: Uint8Array[] | null = null;
  swapSender = 0;
  swapped = false;
  /** Whether it gets deliveries (late-join-confirmation: once confirmed). */
  member = true;
  joinTimer: ReturnType<typeof setTimeout> | undefined;
  heldTimer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(id: number, conn: Deno.Conn) {
    this.id = id;
    this.conn = conn;
  }

  send(bytes: Uint8Array): void {
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
 * Start a faulty server on an ephemeral port of 127.0.0.1.
 *
 * @param fault The misbehaviour.
 * @returns The server.
 */
export function startFaultyServer(fault: Fault): FaultyServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const clients = new Set<FaultyClient>();
  const tasks: Promise<void>[] = [];
  let nextId = 1;
  let starved: FaultyClient | null = null;

  const deliver = (client: FaultyClient, frame: Uint8Array, sender: number) => {
    client.deliveries++;
    if (fault === "swap-for-one" && client === starved && !client.swapped) {
      if (client.swapQueue === null) {
        client.swapQueue = [frame];
        client.swapSender = sender;
      } else if (sender === client.swapSender) {
        client.swapQueue.push(frame);
      } else {
        client.send(frame);
        for (const held of client.swapQueue) client.send(held);
        client.swapQueue = null;
        client.swapped = true;
      }
      return;
    }
    const tenth = client.deliveries % 10 === 0;
    switch (fault) {
      case "drop-every-10th":
        if (!tenth) client.send(frame);
        return;
      case "duplicate-every-10th":
        client.send(frame);
        if (tenth) client.send(frame);
        return;
      case "reorder-every-10th": {
        const held = client.held;
        if (held !== null) {
          clearTimeout(client.heldTimer);
          client.held = null;
          client.send(frame);
          client.send(held);
          return;
        }
        if (tenth) {
          client.held = frame;
          client.heldTimer = setTimeout(() => {
            if (client.held !== null) client.send(client.held);
            client.held = null;
          }, HELD_MESSAGE_FLUSH_MS);
          return;
        }
        client.send(frame);
        return;
      }
      default:
        client.send(frame);
    }
  };

  const serve = async (client: FaultyClient) => {
    client.send(encodeFrame(Tag.ISSUE_ID, client.id));
    const reader = new FrameReader();
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const count = await client.conn.read(buffer);
        if (count === null) break;
        reader.push(buffer.subarray(0, count));
        for (let frame = reader.next(); frame; frame = reader.next()) {
          if (frame.tag === Tag.PING) {
            // What tells a client it talks to hubbub, not the original.
            client.send(encodeFrame(Tag.PONG, 0, frame.body));
            if (
              fault === "late-join-confirmation" && !client.member &&
              client.joinTimer === undefined
            ) {
              client.joinTimer = setTimeout(() => {
                client.member = true;
                client.send(encodeFrame(
                  Tag.PRESENCE,
                  client.id,
                  `{"event":"join","room":"lobby","id":${client.id},"nick":null}`,
                ));
              }, LATE_JOIN_MS);
            }
          }
          if (frame.tag !== Tag.CHAT) continue;
          const sender = fault === "wrong-sender" ? client.id + 1 : client.id;
          const relayed = encodeFrame(Tag.CHAT, sender, frame.body);
          if (
            (fault === "starve-one" || fault === "swap-for-one") &&
            starved === null
          ) {
            for (const member of clients) {
              if (member !== client && member.id > (starved?.id ?? 0)) {
                starved = member;
              }
            }
          }
          for (const member of clients) {
            if (fault === "starve-one" && member === starved) continue;
            if (!member.member) continue;
            deliver(member, relayed, sender);
          }
        }
      }
    } catch {
      // Connection broken: drop the client.
    }
    clients.delete(client);
    clearTimeout(client.heldTimer);
    clearTimeout(client.joinTimer);
    try {
      client.conn.close();
    } catch {
      // Already closed.
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const client = new FaultyClient(nextId++, conn);
        client.member = fault !== "late-join-confirmation";
        clients.add(client);
        tasks.push(serve(client));
      }
    } catch {
      // Listener closed.
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
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
}
