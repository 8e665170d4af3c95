/**
 * A peer that stopped reading, for hub unit tests on a fake clock: a
 * stream whose writes never complete, and a hubbub connection over one.
 */

import type { Clock } from "../server/clock.ts";
import { Connection } from "../server/connection.ts";
import type { StreamTransport } from "../server/transport/transport.ts";

/** A stream whose writes never complete: every write stays in flight. */
export class StuckStream implements StreamTransport {
  readonly remoteAddress = "127.0.0.1:1";
  /** Writes begun. */
  writes = 0;
  closed = false;
  write(): Promise<number> {
    this.writes++;
    return new Promise(() => {});
  }
  close(): void {
    this.closed = true;
  }
}

/** A hubbub connection (64 KiB pending bound) over a fresh StuckStream. */
export function stuckConnection(clock: Clock): Connection {
  const connection = new Connection(
    new StuckStream(),
    64 * 1024,
    () => {},
    undefined,
    clock,
  );
  connection.declareHubbub();
  return connection;
}
