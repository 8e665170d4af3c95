import type { Connection } from "../connection.ts";
import type { HistoryAnswer, HistoryStore } from "../history/mod.ts";
import type { Logger } from "../logger.ts";
import type { NicknameIndex } from "../nickname_index.ts";
import type { RoomPresence } from "../room_presence.ts";
import type { ClusterHub } from "../cluster_hub.ts";

/**
 * The part of the hub's state and output a request may use. The hub builds
 * one and passes it to every request; requests keep no state of their own,
 * and send only through it, so the hub decides how output leaves.
 */
export interface RequestContext {
  /** Rooms, membership and PRESENCE (`presence.rooms` is the directory). */
  readonly presence: RoomPresence;
  /** Who holds which nickname. */
  readonly nicknames: NicknameIndex;
  /** Longest room name in UTF-8 bytes. */
  readonly maxRoomNameBytes: number;
  /** Longest nickname in UTF-8 bytes. */
  readonly maxNicknameBytes: number;
  /** Lifecycle lines. */
  readonly logger: Logger;
  /** Where HISTORY requests are answered from; `null`: history is off. */
  readonly history: HistoryStore | null;
  /** Most messages in one HISTORY reply. */
  readonly historyMaxReply: number;
  /**
   * Hand the store's answer to a HISTORY request back to the hub, which
   * sends it on its own turn (see `sendHistoryAnswer`).
   */
  historyAnswered(client: Connection, answer: HistoryAnswer): void;
  /** Cluster mode: WHO, ROOMS and NICK across nodes; `null`: single server. */
  readonly cluster?: ClusterHub | null;
  /** Queue a frame for one client. */
  send(client: Connection, frame: Uint8Array): void;
  /** Answer a request of `tag` with ERROR (sender id `tag`) saying `reason`. */
  refuse(client: Connection, tag: number, reason: string): void;
  /** End the client's connection at its request (CLOSE answered with CLOSE). */
  close(client: Connection): void;
}

/**
 * One request: parse `body` and apply it for `client`.
 *
 * @param context The hub's state and output.
 * @param client The registered client that sent it.
 * @param body The frame's body (a view into the reader's buffer: copy what is kept).
 */
export type RequestHandler = (
  context: RequestContext,
  client: Connection,
  body: Uint8Array,
) => void;
