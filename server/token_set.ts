import { createHash, timingSafeEqual } from "node:crypto";

function digest(token: string | Uint8Array): Uint8Array {
  return createHash("sha256").update(token).digest();
}

/**
 * The accepted authentication tokens. Only SHA-256 digests are kept, and a
 * presented token is compared with every one of them in constant time, so
 * neither the comparison's duration nor its early exit tells anything about
 * the tokens.
 *
 * @example Usage
 * ```ts
 * import { TokenSet } from "./token_set.ts";
 * const tokens = TokenSet.parse("# comment\nsecret-one\nsecret-two\n");
 * console.log(tokens.size, tokens.verify(new TextEncoder().encode("secret-two"))); // 2 true
 * ```
 */
export class TokenSet {
  #digests: Uint8Array[];

  private constructor(digests: Uint8Array[]) {
    this.#digests = digests;
  }

  /**
   * Read tokens from text: one per line; blank lines and lines starting with
   * `#` are ignored, surrounding whitespace is trimmed.
   *
   * @param text The file's contents.
   * @returns The token set.
   * @throws {RangeError} When the text holds no token.
   */
  static parse(text: string): TokenSet {
    const tokens = text.split("\n").map((line) => line.trim())
      .filter((line) => line.length > 0 && !line.startsWith("#"));
    if (tokens.length === 0) throw new RangeError("Token file holds no token");
    return new TokenSet(tokens.map(digest));
  }

  /**
   * Read a token file.
   *
   * @param path The file.
   * @returns The token set.
   * @throws {Deno.errors.NotFound} When the file does not exist.
   * @throws {RangeError} When it holds no token.
   */
  static async fromFile(path: string): Promise<TokenSet> {
    return TokenSet.parse(await Deno.readTextFile(path));
  }

  /** Number of accepted tokens. */
  get size(): number {
    return this.#digests.length;
  }

  /**
   * Whether `token` is one of the accepted tokens.
   *
   * @param token The presented token (UTF-8 bytes, trimmed by the caller).
   * @returns `true` when it matches.
   */
  verify(token: Uint8Array): boolean {
    const presented = digest(token);
    let match = false;
    for (const accepted of this.#digests) {
      // No early exit: every digest is compared.
      match = timingSafeEqual(presented, accepted) || match;
    }
    return match;
  }
}
