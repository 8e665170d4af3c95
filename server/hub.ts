import {
  encodeFrame,
  HEADER_SIZE,
  readBodyLength,
  readTag,
  Tag,
  writeSenderId,
} from "../protocol/mod.ts";
import { Channel } from "./channel.ts";
import { Client, ClientState } from "./client.ts";
import {
  DisconnectReason,
  type DisconnectReasonValue,
  type HubEvent,
} from "./events.ts";
import type { Logger } from "./logger.ts";
import { Metrics } from "./metrics.ts";
import { Room } from "./room.ts";

/** The room every client starts in. */
export const LOBBY = "lobby";

/** Settings of a {@linkcode Hub}. */
export interface HubOptions {
  /** Where lifecycle lines go. */
  logger: Logger;
  /**
   * Most clients registered at once, 0 for no limit; a client over it gets
   * ERROR "server full".
   */
  maxClients: number;
  /** Bound of each client's outbound queue in bytes. */
  maxPendingBytes: number;
  /** Total bytes of unhandled input at which readers pause. */
  inputHighWater: number;
  /** Longest a dropped client's last frames may take to leave, in ms. */
  lingerMs: number;
}

/** How the hub drops a client: counters, log line, last frame. */
interface Farewell {
  reason: DisconnectReasonValue;
  /** Log detail. */
  detail?: string;
  /** Body of a final ERROR frame, if any. */
  error?: string;
  /** Body of a final CLOSE frame, if any. */
  close?: string;
  /** Drop queued frames first (they will never be read in time). */
  discardQueued?: boolean;
  /** Log at warn rather than info. */
  warn?: boolean;
  /** Longest the last frames may take to leave; default the hub's. */
  lingerMs?: number;
}

/**
 * The central event handler. It alone owns the client registry, the id
 * counter and the rooms, and it handles events strictly in order, one batch
 * per wake-up, without ever awaiting: fan-out is a copy into each member's
 * {@linkcode ClientWriter}, and each writer with something queued is flushed
 * once at the end of the batch.
 *
 * Readers post to {@linkcode Hub.channel}; {@linkcode Hub.run} consumes it.
 */
export class Hub {
  /** The hub's inbox. */
  readonly channel: Channel<HubEvent>;
  /** Counters for stats and metrics. */
  readonly metrics: Metrics = new Metrics();
  #options: HubOptions;
  #logger: Logger;
  #clients = new Map<number, Client>();
  #rooms = new Map<string, Room>();
  #lobby: Room;
  #nextId = 1;
  #toFlush: Client[] = [];
  #slowConsumers: Client[] = [];
  #stopping = false;

  /** @param options Limits and the logger. */
  constructor(options: HubOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.channel = new Channel<HubEvent>(options.inputHighWater);
    this.#lobby = new Room(LOBBY);
    this.#rooms.set(LOBBY, this.#lobby);
  }

  /** Most clients registered at once, 0 for no limit. */
  get maxClients(): number {
    return this.#options.maxClients;
  }

  /** Number of registered clients. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** The registered clients, in registration order. */
  clients(): IterableIterator<Client> {
    return this.#clients.values();
  }

  /**
   * Handle events until the channel is closed and drained.
   *
   * @returns A promise that settles when the channel is closed.
   */
  async run(): Promise<void> {
    for (;;) {
      const batch = await this.channel.receive();
      if (batch === null) return;
      for (let i = 0; i < batch.length; i++) this.#handle(batch[i]);
      this.metrics.batches++;
      this.metrics.events += batch.length;
      this.#flushWriters();
    }
  }

  #handle(event: HubEvent): void {
    switch (event.kind) {
      case "frames":
        this.#onFrames(event.client, event.bytes, event.end);
        break;
      case "connect":
        this.#onConnect(event.client);
        break;
      case "violation":
        this.#drop(event.client, {
          reason: DisconnectReason.Protocol,
          detail: event.reason,
          error: event.reason,
          warn: true,
        });
        break;
      case "gone":
        this.#drop(event.client, {
          reason: DisconnectReason.Gone,
          detail: event.detail,
        });
        break;
      case "shutdown":
        this.#onShutdown(event.reason, event.graceMs, event.done);
        break;
    }
  }

  #onConnect(client: Client): void {
    this.metrics.connects++;
    if (this.#stopping) {
      client.writer.close();
      return;
    }
    const maxClients = this.#options.maxClients;
    if (maxClients > 0 && this.#clients.size >= maxClients) {
      this.#logger.warn("Client refused: server full", {
        address: client.transport.remoteAddress,
        max_clients: this.#options.maxClients,
      });
      this.metrics.countDisconnect(DisconnectReason.ServerFull);
      client.state = ClientState.Closed;
      client.writer.appendControl(encodeFrame(Tag.ERROR, 0, "server full"));
      client.writer.closeWhenFlushed(this.#options.lingerMs);
      return;
    }
    const id = this.#nextId++;
    client.id = id;
    client.state = ClientState.Open;
    this.#clients.set(id, client);
    this.#lobby.add(client);
    this.#send(client, encodeFrame(Tag.ISSUE_ID, id));
    this.#logger.info("Client connected", {
      id,
      address: client.transport.remoteAddress,
    });
  }

  /**
   * Handle a chunk of whole frames. Runs of consecutive CHAT frames are
   * stamped with the sender's id in place and fanned out as one copy per
   * recipient; any other frame ends the run and is handled on its own.
   */
  #onFrames(client: Client, bytes: Uint8Array, end: number): void {
    if (client.state !== ClientState.Open) return;
    const metrics = this.metrics;
    let offset = 0;
    let runStart = -1;
    let runFrames = 0;
    let frames = 0;
    while (offset < end) {
      const frameEnd = offset + HEADER_SIZE + readBodyLength(bytes, offset);
      const tag = readTag(bytes, offset);
      frames++;
      if (tag === Tag.CHAT) {
        writeSenderId(bytes, offset, client.id);
        if (runStart < 0) runStart = offset;
        runFrames++;
      } else {
        if (runStart >= 0) {
          this.#publish(client.room!, bytes, runStart, offset, runFrames);
          runStart = -1;
          runFrames = 0;
        }
        this.#onControlFrame(client, tag);
        if (client.state !== ClientState.Open) break;
      }
      offset = frameEnd;
    }
    if (runStart >= 0 && client.state === ClientState.Open) {
      this.#publish(client.room!, bytes, runStart, offset, runFrames);
    }
    client.framesIn += frames;
    client.bytesIn += end;
    metrics.framesIn += frames;
    metrics.bytesIn += end;
    client.returnReadBuffer(bytes);
  }

  #onControlFrame(client: Client, tag: number): void {
    switch (tag) {
      case Tag.CLOSE:
        this.#drop(client, {
          reason: DisconnectReason.Closed,
          close: "",
        });
        break;
      default:
        // Unknown tags, and tags only servers send, are skipped: old and new
        // clients must coexist.
        break;
    }
  }

  /**
   * Relay `frames` whole CHAT frames, `bytes[start..end)`, to a room. This is
   * the seam where a backplane (several nodes sharing rooms) will come in:
   * publish there, and deliver what comes back through `#deliver`.
   */
  #publish(
    room: Room,
    bytes: Uint8Array,
    start: number,
    end: number,
    frames: number,
  ): void {
    this.metrics.chatsRelayed += frames;
    this.#deliver(room, bytes.subarray(start, end), frames);
  }

  /** Copy frames into every member's outbound queue. */
  #deliver(room: Room, frames: Uint8Array, count: number): void {
    const members = room.members;
    const toFlush = this.#toFlush;
    for (let i = 0; i < members.length; i++) {
      const member = members[i];
      if (!member.writer.append(frames)) {
        this.#slowConsumers.push(member);
        continue;
      }
      member.framesOut += count;
      if (!member.flushPending) {
        member.flushPending = true;
        toFlush.push(member);
      }
    }
    this.metrics.framesOut += count * members.length;
    if (this.#slowConsumers.length > 0) this.#dropSlowConsumers();
  }

  #dropSlowConsumers(): void {
    const slow = this.#slowConsumers;
    this.#slowConsumers = [];
    for (const client of slow) {
      this.#drop(client, {
        reason: DisconnectReason.SlowConsumer,
        detail: `${client.writer.pendingBytes} bytes pending`,
        error: "slow consumer",
        discardQueued: true,
        warn: true,
      });
    }
  }

  /** Queue a frame for one client. */
  #send(client: Client, frame: Uint8Array): void {
    if (!client.writer.append(frame)) {
      this.#slowConsumers.push(client);
      this.#dropSlowConsumers();
      return;
    }
    client.framesOut++;
    this.metrics.framesOut++;
    if (!client.flushPending) {
      client.flushPending = true;
      this.#toFlush.push(client);
    }
  }

  #flushWriters(): void {
    const toFlush = this.#toFlush;
    for (let i = 0; i < toFlush.length; i++) {
      const client = toFlush[i];
      client.flushPending = false;
      client.writer.flush();
    }
    toFlush.length = 0;
  }

  /** Remove a client from the hub, say goodbye, and close it. */
  #drop(client: Client, farewell: Farewell): void {
    if (client.state === ClientState.Closed) return;
    const wasOpen = client.state === ClientState.Open;
    client.state = ClientState.Closed;
    if (wasOpen) {
      this.#clients.delete(client.id);
      client.room?.remove(client);
    }
    this.metrics.countDisconnect(farewell.reason);
    const writer = client.writer;
    if (farewell.reason === DisconnectReason.Gone) {
      writer.close();
    } else {
      if (farewell.discardQueued) writer.discardQueued();
      if (farewell.error !== undefined) {
        writer.appendControl(encodeFrame(Tag.ERROR, 0, farewell.error));
      }
      if (farewell.close !== undefined) {
        writer.appendControl(encodeFrame(Tag.CLOSE, client.id, farewell.close));
      }
      writer.closeWhenFlushed(farewell.lingerMs ?? this.#options.lingerMs);
    }
    this.#logger.log(
      farewell.warn ? "warn" : "info",
      wasOpen ? "Client disconnected" : "Connection dropped",
      {
        id: wasOpen ? client.id : undefined,
        address: client.transport.remoteAddress,
        reason: farewell.reason,
        detail: farewell.detail,
      },
    );
  }

  #onShutdown(reason: string, graceMs: number, done: () => void): void {
    this.#stopping = true;
    const closed: Promise<void>[] = [];
    for (const client of [...this.#clients.values()]) {
      this.#drop(client, {
        reason: DisconnectReason.Shutdown,
        close: reason,
        lingerMs: graceMs,
      });
      closed.push(client.writer.whenClosed());
    }
    // Each writer closes once flushed, or when the grace period runs out.
    Promise.all(closed).then(done);
  }
}
