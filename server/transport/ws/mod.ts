/**
 * WebSocket connections: the {@linkcode WebSocketGateway} (the `/ws`
 * upgrade, the origin check), the reader that takes one hubbub frame from
 * each binary message, and the {@linkcode WebSocketTransport} that sends
 * each frame as one.
 *
 * @module
 */

export {
  type WebSocketCounters,
  WebSocketGateway,
  type WebSocketGatewayOptions,
} from "./gateway.ts";
export { answerUpgrade, type HandshakeAnswer } from "./handshake.ts";
export {
  type AllowedOrigins,
  originAllowed,
  parseAllowedOrigins,
} from "./origins.ts";
export { readWebSocket } from "./reader.ts";
export { type WebSocketConnection, WebSocketTransport } from "./transport.ts";
export { webSocketAccept } from "./wire.ts";
