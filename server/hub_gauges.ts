import type { Admission } from "./admission.ts";
import type { Connection } from "./connection.ts";
import type { Outbox } from "./outbox.ts";
import type { RoomDirectory } from "./room_directory.ts";
import type { HubOptions } from "./settings.ts";
import type { StallClock } from "./stall_clock.ts";

/**
 * What `/stats`, `/metrics` and tests read of the hub's state now: a
 * read-only view over the parts the hub owns (`Hub.gauges`).
 */
export class HubGauges {
  #options: HubOptions;
  #clients: ReadonlyMap<number, Connection>;
  #rooms: RoomDirectory;
  #admission: Admission;
  #outbox: Outbox;
  #stalls: StallClock;

  /**
   * @param options The hub's settings.
   * @param clients The hub's registry of clients by id.
   * @param rooms The hub's rooms.
   * @param admission The hub's admission.
   * @param outbox The hub's outbox.
   * @param stalls The hub's stall clock.
   */
  constructor(
    options: HubOptions,
    clients: ReadonlyMap<number, Connection>,
    rooms: RoomDirectory,
    admission: Admission,
    outbox: Outbox,
    stalls: StallClock,
  ) {
    this.#options = options;
    this.#clients = clients;
    this.#rooms = rooms;
    this.#admission = admission;
    this.#outbox = outbox;
    this.#stalls = stalls;
  }

  /** Source addresses the rate limits remember now. */
  get trackedAddresses(): number {
    return this.#admission.trackedAddresses;
  }

  /** Seconds the server could not read so far (stopped, or event loop blocked). */
  get stalledSeconds(): number {
    return this.#stalls.totalStalledMs / 1000;
  }

  /** Most clients at once, 0 for no limit. */
  get maxClients(): number {
    return this.#options.maxClients;
  }

  /** Number of registered clients (those with an id). */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Number of rooms, the lobby included. */
  get roomCount(): number {
    return this.#rooms.size;
  }

  /** True while the hub holds output back briefly to batch writes (see {@linkcode Outbox}). */
  get coalescing(): boolean {
    return this.#outbox.coalescing;
  }

  /**
   * Shortest time between two flush rounds now, in ms: above 0 while big
   * rooms are busy (see {@linkcode Outbox.roundInterval}).
   */
  get flushRoundInterval(): number {
    return this.#outbox.roundInterval;
  }

  /** Connections waiting to authenticate. */
  get awaitingAuthCount(): number {
    return this.#admission.awaitingCount;
  }
}
