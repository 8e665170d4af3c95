/**
 * Transports: how bytes reach a client and come back from it. The hub sees
 * only {@linkcode Transport}s; `tcp/` serves TCP and TLS connections, and a
 * WebSocket gateway will sit beside it in `ws/`, handing its connections to
 * the hub the same way.
 *
 * @module
 */

export {
  type AnyTransport,
  isMessageTransport,
  type MessageTransport,
  type StreamTransport,
  type Transport,
} from "./transport.ts";
export {
  connectClient,
  type HubEntrance,
  type ReadTask,
} from "./connect_client.ts";
