/**
 * Writing a whole buffer to a connection whose writes may be partial.
 *
 * @module
 */

import type { ByteConnection } from "./_ws_connection.ts";

/**
 * Write all of `bytes`, however many calls it takes.
 *
 * @param conn The connection.
 * @param bytes What to write.
 */
export async function writeAll(
  conn: ByteConnection,
  bytes: Uint8Array,
): Promise<void> {
  let offset = await conn.write(bytes);
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}
