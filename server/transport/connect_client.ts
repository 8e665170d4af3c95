/**
 * The one way a new connection reaches the hub, whatever its transport: a
 * gateway (`tcp/`, later `ws/`) accepts it, finishes its handshake, and
 * hands over its two directions here: the outbound transport, wrapped in a
 * {@linkcode Connection} with its writer, and the inbound reader, started once
 * the hub has been told of the client.
 *
 * @module
 */

import type { Channel } from "../channel.ts";
import { Connection } from "../connection.ts";
import type { WriteTotals } from "../client_writer.ts";
import type { Clock } from "../clock.ts";
import type { HubEvent } from "../events.ts";
import { describeConnectionError } from "./_connection_error.ts";
import type { AnyTransport } from "./transport.ts";

/**
 * The inbound direction of a connection: read until it ends, posting
 * `frames` events for `client` to `inbox`, then `gone` (or `violation`).
 * Never throws.
 */
export type ReadTask = (
  client: Connection,
  inbox: Channel<HubEvent>,
) => Promise<void>;

/** What every connection handed to one hub shares. */
export interface HubEntrance {
  /** The hub's inbox. */
  readonly inbox: Channel<HubEvent>;
  /** Bound of each client's outbound queue (`--max-pending-bytes`). */
  readonly maxPendingBytes: number;
  /** The server-wide byte and write counters. */
  readonly totals: WriteTotals;
  /** The hub's clock. */
  readonly clock: Clock;
}

/**
 * Hand a new connection to the hub: make its {@linkcode Connection} (a failed
 * write posts `gone`), post `connect`, start its reader.
 *
 * @param entrance The hub's inbox and the settings clients share.
 * @param transport The connection's outbound side.
 * @param read The connection's inbound side.
 * @returns The client.
 */
export function connectClient(
  entrance: HubEntrance,
  transport: AnyTransport,
  read: ReadTask,
): Connection {
  const inbox = entrance.inbox;
  const client = new Connection(
    transport,
    entrance.maxPendingBytes,
    (error) =>
      inbox.push({
        kind: "gone",
        client,
        detail: describeConnectionError(error),
      }),
    entrance.totals,
    entrance.clock,
  );
  inbox.push({ kind: "connect", client });
  read(client, inbox);
  return client;
}
