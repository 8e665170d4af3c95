import { nicknameKey } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";

/**
 * The nicknames held, by uniqueness key ({@linkcode nicknameKey}): a
 * nickname and its lookalikes share a key, so only one client holds any of
 * them at a time. The index keeps `Connection.nickname` in step.
 *
 * @example Usage
 * ```ts no-eval
 * const index = new NicknameIndex();
 * index.claim(alice, "alice"); // true
 * index.claim(bob, "ALICE"); // false: taken
 * index.release(alice);
 * ```
 */
export class NicknameIndex {
  #holders = new Map<string, Connection>();

  /** Number of nicknames held. */
  get size(): number {
    return this.#holders.size;
  }

  /**
   * Who holds `nickname` or a lookalike of it.
   *
   * @param nickname A nickname that passed `nicknameProblem`.
   * @returns The holder, or `undefined` when it is free.
   */
  holder(nickname: string): Connection | undefined {
    return this.#holders.get(nicknameKey(nickname));
  }

  /**
   * Give `client` the nickname (in NFC, as stored), freeing the one it held.
   *
   * @param client The client.
   * @param nickname A nickname that passed `nicknameProblem`.
   * @returns `false`, changing nothing, when another client holds it or a lookalike.
   */
  claim(client: Connection, nickname: string): boolean {
    const key = nicknameKey(nickname);
    const holder = this.#holders.get(key);
    if (holder !== undefined && holder !== client) return false;
    if (client.nickname === nickname) return true;
    this.release(client);
    this.#holders.set(key, client);
    client.nickname = nickname;
    return true;
  }

  /**
   * Free the nickname `client` holds, if any (it keeps `Connection.nickname`
   * for the farewell log line).
   *
   * @param client The client.
   */
  release(client: Connection): void {
    if (client.nickname === null) return;
    const key = nicknameKey(client.nickname);
    if (this.#holders.get(key) === client) this.#holders.delete(key);
  }
}
