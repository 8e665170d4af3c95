/**
 * Helpers for the production-server tests (rooms, nicknames, keepalive,
 * limits, slow consumers, shutdown, HTTP, TLS, auth): a server with clients
 * connected (on the real clock or a fake one the test advances), barriers
 * that prove a negative without sleeping, list
 * requests, log waits, hand-built headers, numbered CHAT batches, raw stream
 * reads and a tiny HTTP client that leaves no connection behind.
 */

import { deadline } from "./_deadline.ts";
import { RawClient, text } from "./_raw_client.ts";
import { type LogLines, waitForLog, withServer } from "./_server.ts";
import { FakeClock } from "./_fake_clock.ts";

export { type LogLines, waitForLog };
import {
  decodeJsonBody,
  encodeFrame,
  type Frame,
  FrameReader,
  HEADER_SIZE,
  type MemberEntry,
  type MoreEntry,
  type Presence,
  type RoomEntry,
  Tag,
} from "../protocol/mod.ts";
import type { Server, ServerOptions } from "../server/mod.ts";

export { RawClient, text };

/** Close every client (and wait for their read loops). */
export async function closeAll(...clients: RawClient[]): Promise<void> {
  await Promise.all(clients.map((client) => client.close()));
}

/**
 * Run `body` against a fresh in-process server (see `withServer`) with
 * `count` clients connected one after another, so that their ids and their
 * joins to the lobby come in that order; close them all afterwards.
 */
export async function withClients(
  options: ServerOptions,
  count: number,
  body: (clients: RawClient[], server: Server, logs: LogLines) => Promise<void>,
): Promise<void> {
  await withServer(options, async (server, logs) => {
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < count; i++) {
        clients.push(await RawClient.connect(server.address.port));
      }
      await body(clients, server, logs);
    } finally {
      await closeAll(...clients);
    }
  });
}

/**
 * Like {@linkcode withClients}, but the hub runs on a {@linkcode FakeClock}
 * starting at 0: ticks, deadlines, keepalive, rate limits and flush holds
 * see time move only when `body` calls `clock.advance`. The clients start
 * with empty inboxes. The hub handles the ticks an advance fires before
 * anything sent after it, so "advance, then a barrier" shows exactly what
 * the deadline did.
 */
export async function withClockedClients(
  options: ServerOptions,
  count: number,
  body: (
    clients: RawClient[],
    clock: FakeClock,
    server: Server,
    logs: LogLines,
  ) => Promise<void>,
): Promise<void> {
  await withClockedServer(options, async (server, clock, logs) => {
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < count; i++) {
        clients.push(await RawClient.connect(server.address.port));
      }
      // Each starts with an empty inbox (the joins announced to it taken).
      for (const client of clients) await barrier(client);
      await body(clients, clock, server, logs);
    } finally {
      await closeAll(...clients);
    }
  });
}

/**
 * Run `body` against a fresh in-process server whose hub runs on a
 * {@linkcode FakeClock} starting at 0 (see {@linkcode withClockedClients}).
 */
export async function withClockedServer(
  options: ServerOptions,
  body: (server: Server, clock: FakeClock, logs: LogLines) => Promise<void>,
): Promise<void> {
  const clock = new FakeClock();
  await withServer({ ...options, clock }, async (server, logs) => {
    try {
      await body(server, clock, logs);
    } finally {
      await stopOnClock(server, clock);
    }
  });
}

/**
 * Shut `server` down while moving `clock` on, so that writers lingering on
 * the fake clock (a peer that stopped reading) close within the grace.
 */
async function stopOnClock(server: Server, clock: FakeClock): Promise<void> {
  let stopped = false;
  const stopping = server.shutdown({ graceMs: 1000 }).finally(() => {
    stopped = true;
  });
  for (let i = 0; i < 200 && !stopped; i++) {
    clock.advance(10);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await stopping;
}

/**
 * Wait until the hub has handled `count` frames in all (its
 * `framesIn` counter): proof that a frame that has no reply, such as a
 * PONG, was handled, and at which time of a fake clock.
 */
export async function framesHandled(
  server: Server,
  count: number,
): Promise<void> {
  await waitUntil(
    () => server.hub.metrics.framesIn >= count,
    `the hub to have handled ${count} frames`,
  );
}

/**
 * Poll `predicate` every few milliseconds until it is true.
 *
 * @throws {Error} After `timeoutMs`.
 */
export async function waitUntil(
  predicate: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Take every frame (of any tag) until one satisfies `stop`; return them all,
 * the stopping frame last.
 */
export async function takeUntil(
  client: RawClient,
  stop: (frame: Frame) => boolean,
  timeoutMs = 5000,
): Promise<Frame[]> {
  const frames: Frame[] = [];
  const started = Date.now();
  for (;;) {
    const frame = await client.next(
      undefined,
      Math.max(1, timeoutMs - (Date.now() - started)),
    );
    frames.push(frame);
    if (stop(frame)) return frames;
  }
}

let barrierCount = 0;

/**
 * A barrier: send PING with a unique body and return every frame that
 * arrived before the matching PONG. The hub handles events in order, so
 * whatever it queued for this client before handling the PING is in the
 * result; a test proves that something did NOT arrive this way, without
 * sleeping.
 */
export async function barrier(
  client: RawClient,
  timeoutMs = 5000,
): Promise<Frame[]> {
  const marker = `barrier-${++barrierCount}`;
  await client.send(Tag.PING, marker);
  const frames = await takeUntil(
    client,
    (frame) => frame.tag === Tag.PONG && text(frame) === marker,
    timeoutMs,
  );
  frames.pop();
  return frames;
}

/** Decode a PRESENCE frame's body. */
export function presenceOf(frame: Frame): Presence {
  if (frame.tag !== Tag.PRESENCE) {
    throw new Error(`Expected PRESENCE, got tag ${frame.tag}: ${text(frame)}`);
  }
  return decodeJsonBody<Presence>(frame.body)!;
}

/** The next PRESENCE frame (other tags skipped), decoded. */
export async function nextPresence(
  client: RawClient,
  timeoutMs = 5000,
): Promise<Presence> {
  return presenceOf(await client.next(Tag.PRESENCE, timeoutMs));
}

/** The next ERROR frame (other tags skipped): its refused tag and reason. */
export async function nextError(
  client: RawClient,
  timeoutMs = 5000,
): Promise<{ tag: number; reason: string }> {
  const frame = await client.next(Tag.ERROR, timeoutMs);
  return { tag: frame.senderId, reason: text(frame) };
}

/** Frames of `frames` with tag `tag`. */
export function ofTag(frames: Frame[], tag: number): Frame[] {
  return frames.filter((frame) => frame.tag === tag);
}

/** The presences among `frames`, decoded. */
export function presences(frames: Frame[]): Presence[] {
  return ofTag(frames, Tag.PRESENCE).map(presenceOf);
}

/**
 * Send ROOMS or WHO and collect the reply: the decoded entries up to the
 * empty frame that ends the list. Frames of other tags that arrive
 * meanwhile are returned in `other`.
 */
export async function requestList<T = RoomEntry | MemberEntry | MoreEntry>(
  client: RawClient,
  tag: typeof Tag.ROOMS | typeof Tag.WHO,
  timeoutMs = 5000,
): Promise<{ entries: T[]; other: Frame[] }> {
  await client.send(tag);
  const frames = await takeUntil(
    client,
    (frame) => frame.tag === tag && frame.body.length === 0,
    timeoutMs,
  );
  frames.pop();
  return {
    entries: ofTag(frames, tag).map((frame) => decodeJsonBody<T>(frame.body)!),
    other: frames.filter((frame) => frame.tag !== tag),
  };
}

/** The rooms and their sizes as a plain object, via ROOMS. */
export async function roomSizes(
  client: RawClient,
): Promise<Record<string, number>> {
  const { entries } = await requestList<RoomEntry>(client, Tag.ROOMS);
  return Object.fromEntries(
    entries.map((entry) => [entry.room, entry.members]),
  );
}

/** The members of the client's room (sorted by id), via WHO. */
export async function whoIsHere(client: RawClient): Promise<MemberEntry[]> {
  const { entries } = await requestList<MemberEntry>(client, Tag.WHO);
  return entries.sort((a, b) => a.id - b.id);
}

/**
 * Send JOIN and wait for the joiner's own join PRESENCE (the confirmation).
 * Returns the frames up to it, the confirmation last.
 */
export async function joinConfirmed(
  client: RawClient,
  room: string,
  timeoutMs?: number,
): Promise<Frame[]> {
  await client.send(Tag.JOIN, room);
  return await takeUntil(client, (frame) => {
    if (frame.tag !== Tag.PRESENCE) return false;
    const presence = presenceOf(frame);
    return presence.event === "join" && presence.id === client.id &&
      presence.room === room;
  }, timeoutMs);
}

/**
 * Send JOIN and wait for the joiner's own join PRESENCE (the confirmation).
 * Returns the frames that arrived before it.
 */
export async function join(client: RawClient, room: string): Promise<Frame[]> {
  const frames = await joinConfirmed(client, room);
  frames.pop();
  return frames;
}

/** Send NICK and wait for the client's own nick PRESENCE. */
export async function nick(client: RawClient, name: string): Promise<void> {
  await client.send(Tag.NICK, name);
  await takeUntil(client, (frame) => {
    if (frame.tag === Tag.ERROR) {
      throw new Error(`NICK ${name} refused: ${text(frame)}`);
    }
    if (frame.tag !== Tag.PRESENCE) return false;
    const presence = presenceOf(frame);
    return presence.event === "nick" && presence.id === client.id;
  });
}

/**
 * A frame header built by hand with `DataView`, independent of the protocol
 * module under test (fields as BigInt, so any 64-bit value can be written).
 */
export function rawHeader(
  bodyLength: bigint,
  tag: bigint,
  senderId = 0n,
): Uint8Array {
  const header = new Uint8Array(HEADER_SIZE);
  const view = new DataView(header.buffer);
  view.setBigUint64(0, bodyLength);
  view.setBigUint64(8, tag);
  view.setBigUint64(16, senderId);
  return header;
}

/** The body size of {@linkcode numberedChats}' frames. */
export const NUMBERED_BODY_SIZE = 400;

/**
 * `count` CHAT frames, back to back, whose bodies of
 * {@linkcode NUMBERED_BODY_SIZE} bytes start with their index (a 32-bit
 * integer): `start`, `start + 1`, …
 */
export function numberedChats(start: number, count: number): Uint8Array {
  return concat(
    ...Array.from({ length: count }, (_, i) => {
      const body = new Uint8Array(NUMBERED_BODY_SIZE).fill(0x2e);
      new DataView(body.buffer).setUint32(0, start + i);
      return encodeFrame(Tag.CHAT, 0, body);
    }),
  );
}

/** The index a frame of {@linkcode numberedChats} carries. */
export function chatIndex(frame: Frame): number {
  return new DataView(frame.body.buffer, frame.body.byteOffset).getUint32(0);
}

/**
 * Have `sender` send `total` CHAT frames, 1000 to a write (`batch(start,
 * 1000)` builds each), taking its own copies of each batch back before
 * writing the next, so the server has handled it. Stops early, between
 * batches, once `stop()` is true.
 */
export async function sendBatches(
  sender: RawClient,
  total: number,
  batch: (start: number, count: number) => Uint8Array,
  stop: () => boolean = () => false,
): Promise<void> {
  for (let start = 0; start < total && !stop(); start += 1000) {
    await sender.write(batch(start, 1000));
    await sender.chats(1000, 10_000);
  }
}

/** One CHAT frame's bytes. */
export function chatFrame(body: string | Uint8Array): Uint8Array {
  return encodeFrame(Tag.CHAT, 0, body);
}

/** Concatenate byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Read a raw connection to its end and decode every frame (bodies copied).
 * Returns the frames and the bytes left over mid-frame.
 */
export async function readToEnd(
  conn: Deno.Conn,
  timeoutMs = 10_000,
): Promise<{ frames: Frame[]; leftover: number; bytes: number }> {
  const reader = new FrameReader();
  const frames: Frame[] = [];
  let bytes = 0;
  await deadline(
    (async () => {
      const buffer = new Uint8Array(64 * 1024);
      for (;;) {
        let count: number | null;
        try {
          count = await conn.read(buffer);
        } catch (error) {
          if (error instanceof Deno.errors.ConnectionReset) break;
          throw error;
        }
        if (count === null) break;
        bytes += count;
        reader.push(buffer.slice(0, count));
        for (let frame = reader.next(); frame; frame = reader.next()) {
          frames.push({ ...frame, body: frame.body.slice() });
        }
      }
    })(),
    timeoutMs,
    "the connection to end",
  );
  return { frames, leftover: reader.bufferedBytes, bytes };
}

/** Bytes a frame takes on the wire. */
export function wireSize(frame: Frame): number {
  return 24 + frame.body.length;
}

/** The address of a client's end, as the server logs it. */
export function addressOf(client: RawClient): string {
  const local = client.conn.localAddr as Deno.NetAddr;
  return `${local.hostname}:${local.port}`;
}

/** A response from {@linkcode httpGet}. */
export interface HttpReply {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * A minimal HTTP/1.1 request over a fresh connection with
 * `Connection: close`, read to the end. No connection pool is left behind
 * (unlike `fetch`), so the test sanitizers stay quiet.
 */
export async function httpGet(
  port: number,
  path: string,
  method = "GET",
  timeoutMs = 5000,
): Promise<HttpReply> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request =
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Connection: close\r\nContent-Length: 0\r\n\r\n`;
    const bytes = new TextEncoder().encode(request);
    let offset = 0;
    while (offset < bytes.length) {
      offset += await conn.write(bytes.subarray(offset));
    }
    const chunks: Uint8Array[] = [];
    await deadline(
      (async () => {
        const buffer = new Uint8Array(64 * 1024);
        for (;;) {
          const count = await conn.read(buffer);
          if (count === null) break;
          chunks.push(buffer.slice(0, count));
        }
      })(),
      timeoutMs,
      `HTTP ${method} ${path}`,
    );
    const raw = concat(...chunks);
    let split = 0;
    while (
      split + 4 <= raw.length &&
      !(raw[split] === 13 && raw[split + 1] === 10 && raw[split + 2] === 13 &&
        raw[split + 3] === 10)
    ) split++;
    const head = new TextDecoder().decode(raw.subarray(0, split)).split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    const headers = new Map<string, string>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      headers.set(
        line.slice(0, colon).trim().toLowerCase(),
        line.slice(colon + 1).trim(),
      );
    }
    let body = raw.subarray(split + 4);
    if (headers.get("transfer-encoding") === "chunked") body = dechunk(body);
    return { status, headers, body: new TextDecoder().decode(body) };
  } finally {
    conn.close();
  }
}

function dechunk(body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    let newline = offset;
    while (newline < body.length && body[newline] !== 10) newline++;
    const size = parseInt(
      new TextDecoder().decode(body.subarray(offset, newline)),
      16,
    );
    if (!(size > 0)) break;
    parts.push(body.subarray(newline + 1, newline + 1 + size));
    offset = newline + 1 + size + 2;
  }
  return concat(...parts);
}

/** Prometheus text parsed into `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}
