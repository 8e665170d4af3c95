/**
 * TCP and TLS connections: the {@linkcode TcpGateway} (accept loop, TLS
 * handshake, refusals), the reader task that cuts a byte stream into frames,
 * and the {@linkcode TcpTransport} the writer writes through.
 *
 * @module
 */

export {
  acceptConnections,
  AcceptErrorKind,
  type AcceptErrorKindValue,
  type AcceptHandlers,
  classifyAcceptError,
  type Pause,
} from "./accept_loop.ts";
export { TcpGateway, type TcpGatewayOptions } from "./gateway.ts";
export {
  IDLE_READ_BUFFER,
  MAX_READ_BUFFER,
  MIN_READ_BUFFER,
  readConnection,
} from "./reader.ts";
export { createTlsContext, TlsSession } from "./tls_session.ts";
export { type StreamConnection, TcpTransport } from "./transport.ts";
