/**
 * The original-client policy. The original Rust client handles only the
 * first frame of each `read()` and knows only ISSUE_ID, CHAT and CLOSE, so a
 * client that has sent nothing newer than CLOSE is treated as one: it gets
 * only those three tags (ERROR only as a farewell, right before the server
 * closes it), one frame per socket write. Its first frame of a newer tag
 * makes it a hubbub client, which gets everything, coalesced.
 *
 * The hub applies these rules; `Client.original` records the state, and
 * `ClientWriter.framePerWrite` the write discipline.
 *
 * @module
 */

import { Tag } from "../protocol/mod.ts";

/**
 * Whether a client that sends a frame of `tag` thereby shows that it is a
 * hubbub client: any tag above CLOSE, known or not.
 *
 * @param tag The tag of a frame the client sent.
 * @returns `true` for tags the original client never sends.
 */
export function declaresHubbub(tag: number): boolean {
  return tag > Tag.CLOSE;
}

/**
 * Whether an original client may be sent a frame of `tag` in the course of
 * things (its farewell ERROR aside): ISSUE_ID, CHAT and CLOSE.
 *
 * @param tag The tag of a frame the server would send.
 * @returns `true` for the original protocol's tags.
 */
export function originalClientReceives(tag: number): boolean {
  return tag <= Tag.CLOSE;
}
