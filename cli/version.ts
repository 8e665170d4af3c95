/**
 * The version every program prints for `--version`: deno.json's `version`
 * field. A JSON import, not a file read, so that it is built into a bundle
 * and a compiled executable and needs no read permission.
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** hubbub's version, from deno.json. */
export const VERSION: string = config.version;
