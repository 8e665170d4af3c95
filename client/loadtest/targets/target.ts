/**
 * What the load generator needs to know about a server's wire format: how a
 * published message looks on the wire, how a connection joins, and how to
 * find the deliveries in the bytes a connection receives.
 *
 * @module
 */

/** Receives what a target's parser finds in a connection's input. */
export interface StreamSink {
  /**
   * The server accepted the connection (hubbub: ISSUE_ID; Redis: the
   * SUBSCRIBE confirmation).
   *
   * @param id The issued id (hubbub), 0 where the server issues none.
   */
  joined(id: number): void;
  /**
   * The server announced a member's join to this connection (hubbub: a
   * `join` PRESENCE; a connection's own one is its join confirmation).
   *
   * @param memberId The member who joined (the frame's sender id).
   */
  joinAnnounced(memberId: number): void;
  /**
   * A message was delivered.
   *
   * @param view A view over the whole receive buffer.
   * @param payloadOffset Where the payload starts in the buffer.
   * @param payloadLength The payload's length in bytes.
   * @param senderId The server's sender stamp, -1 where there is none.
   */
  delivered(
    view: DataView,
    payloadOffset: number,
    payloadLength: number,
    senderId: number,
  ): void;
  /**
   * The server sent a frame of a tag above CLOSE (hubbub: it is not the
   * original server, and it reads frames however they are split or
   * coalesced).
   */
  newerTagSeen(): void;
  /**
   * The server reported an error or ended the connection with a reason.
   *
   * @param text The server's words.
   */
  serverError(text: string): void;
  /**
   * The server refused one of this connection's published messages (hubbub:
   * ERROR whose sender id is the CHAT tag, as its rate limit sends).
   */
  publishRefused(): void;
  /**
   * The server asked whether the connection is alive (hubbub: PING).
   *
   * @param reply The bytes to send back (hubbub: a PONG frame).
   */
  pinged(reply: Uint8Array): void;
  /**
   * The server answered {@linkcode Target.probeRequest} (hubbub: PONG;
   * Redis: `pong`), so it still serves the connection.
   */
  probeAnswered(): void;
  /**
   * A reply to a publish request arrived (Redis: the subscriber count).
   *
   * @param receivers The number the server reported.
   */
  publishAcknowledged(receivers: number): void;
}

/** A server wire format the generator can drive. */
export interface Target {
  /** The name given to `--target`. */
  readonly name: string;
  /**
   * Whether publishers send on a connection of their own, apart from the
   * one that receives (Redis: a subscribed connection cannot PUBLISH).
   */
  readonly separatePublishConnection: boolean;
  /** Whether deliveries carry the publisher's server-issued id. */
  readonly stampsSender: boolean;
  /**
   * Bytes on the wire of one published message.
   *
   * @param payloadSize The payload size.
   * @returns The message's size, framing included.
   */
  messageSize(payloadSize: number): number;
  /**
   * Offset of the payload inside a published message.
   *
   * @param payloadSize The payload size.
   * @returns The offset from the start of the message.
   */
  payloadOffset(payloadSize: number): number;
  /**
   * Write a whole published message with a blank payload at `offset`.
   *
   * @param bytes The send buffer.
   * @param offset Where the message starts.
   * @param payloadSize The payload size.
   */
  writeMessageTemplate(
    bytes: Uint8Array,
    offset: number,
    payloadSize: number,
  ): void;
  /**
   * What a receiving connection sends right after it connects, if anything.
   *
   * @param room Join this room (Redis: channel) instead of the test's one.
   * @returns The bytes, or `null`.
   */
  joinRequest(room?: string): Uint8Array | null;
  /**
   * What every connection sends right after its join request to tell the
   * server it is not an original client, and to learn the same of the
   * server (hubbub: PING, which the original server skips and hubbub
   * answers with PONG). Until the answer, a publisher sends one frame per
   * write, and the next only once a receiver has the last one (the
   * original server handles one frame per `read()`). `null`: the target
   * needs neither.
   */
  readonly identifyRequest: Uint8Array | null;
  /**
   * What a connection sends to learn whether the server still serves it:
   * the answer comes after everything queued for it (hubbub: PING; Redis:
   * PING, answered in subscribed mode as a `pong` push).
   */
  readonly probeRequest: Uint8Array;
  /**
   * What a connection sends, once joined, to move to another room.
   *
   * @param room The room.
   * @returns The bytes, or `null` where the join request already chose it.
   */
  moveRequest(room: string): Uint8Array | null;
  /**
   * Find the complete server messages in `bytes[start..end)` and report them
   * to `sink`.
   *
   * @param bytes The receive buffer.
   * @param view A view over the same buffer.
   * @param start Where the unparsed input starts.
   * @param end Where the input ends.
   * @param sink Where the findings go.
   * @returns The offset just past the last complete message.
   * @throws {ProtocolError} When the input breaks the wire format.
   */
  parse(
    bytes: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    sink: StreamSink,
  ): number;
}

/** The server sent bytes that break its wire format. */
export class ProtocolError extends Error {
  /** @param message What was wrong, in sentence case. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}
