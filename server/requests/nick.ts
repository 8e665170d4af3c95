import { nicknameProblem, Tag } from "../../protocol/mod.ts";
import type { Connection } from "../connection.ts";
import { decodeName } from "./_names.ts";
import type { RequestContext } from "./context.ts";

/**
 * The nickname a NICK body asks for, or why it is none.
 *
 * @param body The NICK body.
 * @param maxBytes Longest nickname in UTF-8 bytes.
 * @returns `{ nickname }` in NFC, or `{ problem }` to refuse with.
 */
export function parseNick(
  body: Uint8Array,
  maxBytes: number,
): { nickname: string } | { problem: string } {
  const nickname = decodeName(body);
  if (nickname === null) return { problem: "nickname is not valid UTF-8" };
  const problem = nicknameProblem(nickname, maxBytes);
  return problem === null ? { nickname } : { problem };
}

/**
 * NICK: take the nickname unless another client holds it or a lookalike;
 * the change is announced like a join, an unchanged one confirmed to the
 * client alone.
 *
 * @param context The hub's state and output.
 * @param client The client.
 * @param body The nickname.
 */
export function nick(
  context: RequestContext,
  client: Connection,
  body: Uint8Array,
): void {
  const parsed = parseNick(body, context.maxNicknameBytes);
  if ("problem" in parsed) {
    context.refuse(client, Tag.NICK, parsed.problem);
    return;
  }
  if (context.cluster) {
    context.cluster.nick(client, parsed.nickname);
    return;
  }
  const old = client.nickname;
  if (!context.nicknames.claim(client, parsed.nickname)) {
    context.refuse(client, Tag.NICK, "nickname is taken");
    return;
  }
  if (old === parsed.nickname) {
    context.presence.nickChanged(client, old, true);
    return;
  }
  context.presence.nickChanged(client, old);
  context.logger.debug("Client set nickname", {
    id: client.id,
    nick: parsed.nickname,
  });
}
