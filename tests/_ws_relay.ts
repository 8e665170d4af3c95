/**
 * A minimal hubbub-over-WebSocket relay for tests of the load generator's
 * `--transport ws`: `/ws` upgrades, each binary message is one frame, every
 * connection gets ISSUE_ID on open, CHAT goes to everyone (the sender too)
 * stamped with the sender's id, PING is answered with PONG, anything else is
 * ignored. It stands in for the server's gateway where only the client side
 * is under test.
 */

import {
  encodeFrame,
  HEADER_SIZE,
  readBodyLength,
  readTag,
  Tag,
  writeSenderId,
} from "../protocol/mod.ts";

/** A running relay. */
export interface WsRelay {
  /** Its port on 127.0.0.1. */
  port: number;
  /** Frames the relay received that were not exactly one frame. */
  misframed: number;
  /** Stop it: close every socket and the listener. */
  close(): Promise<void>;
}

/** Start a relay on an ephemeral port of 127.0.0.1. */
export function startWsRelay(): Promise<WsRelay> {
  const sockets = new Set<WebSocket>();
  let nextId = 1;
  const listening = Promise.withResolvers<number>();
  const relay: WsRelay = {
    port: 0,
    misframed: 0,
    close: async () => {
      for (const socket of sockets) socket.close();
      await server.shutdown();
    },
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => listening.resolve(port),
  }, (request) => {
    if (new URL(request.url).pathname !== "/ws") {
      return new Response("not found", { status: 404 });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const id = nextId++;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      sockets.add(socket);
      socket.send(encodeFrame(Tag.ISSUE_ID, id));
    };
    socket.onclose = () => sockets.delete(socket);
    socket.onmessage = (event) => {
      if (!(event.data instanceof ArrayBuffer)) {
        socket.close(1003, "binary frames only");
        return;
      }
      const frame = new Uint8Array(event.data);
      if (
        frame.length < HEADER_SIZE ||
        HEADER_SIZE + readBodyLength(frame, 0) !== frame.length
      ) {
        relay.misframed++;
        return;
      }
      const tag = readTag(frame, 0);
      if (tag === Tag.CHAT) {
        writeSenderId(frame, 0, id);
        for (const peer of sockets) {
          if (peer.readyState === WebSocket.OPEN) peer.send(frame);
        }
      } else if (tag === Tag.PING) {
        socket.send(encodeFrame(Tag.PONG, 0, frame.subarray(HEADER_SIZE)));
      }
    };
    return response;
  });
  return listening.promise.then((port) => {
    relay.port = port;
    return relay;
  });
}
