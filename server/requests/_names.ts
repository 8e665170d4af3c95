import { normalizeName } from "../../protocol/mod.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A room name or nickname as received: strict UTF-8, in NFC.
 *
 * @param body The frame body.
 * @returns The name, or `null` when the body is not valid UTF-8.
 */
export function decodeName(body: Uint8Array): string | null {
  try {
    return normalizeName(strictDecoder.decode(body));
  } catch {
    return null;
  }
}
