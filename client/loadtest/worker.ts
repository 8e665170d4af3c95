/**
 * Entry point of a load-generator worker thread: receives its plan, runs a
 * {@linkcode Shard} and relays messages both ways.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { FromShard, ToShard } from "./_messages.ts";
import { Shard } from "./shard.ts";

let shard: Shard | null = null;

function post(message: FromShard): void {
  self.postMessage(message);
}

self.onmessage = (event: MessageEvent<ToShard>) => {
  const message = event.data;
  if (message.kind === "plan") {
    shard = new Shard(message.plan, post, message.tickerPort);
    shard.connect().catch((error) =>
      post({
        kind: "failed",
        message: error instanceof Error
          ? error.stack ?? error.message
          : String(error),
      })
    );
    return;
  }
  try {
    shard?.handle(message);
  } catch (error) {
    post({
      kind: "failed",
      message: error instanceof Error
        ? error.stack ?? error.message
        : String(error),
    });
  }
};
