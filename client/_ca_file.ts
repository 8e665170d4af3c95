import { StartupError } from "../cli/mod.ts";

/**
 * Read a PEM file of certificates to trust (`--ca FILE`), for the terminal
 * client and the load generator alike.
 *
 * @param path The file.
 * @returns Its text.
 * @throws {StartupError} When it cannot be read, in one plain line.
 */
export async function readCaFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new StartupError(
      `Cannot read the CA file ${path}: ${
        error instanceof Deno.errors.NotFound
          ? "it does not exist"
          : error instanceof Error
          ? error.message
          : error
      }`,
      { cause: error },
    );
  }
}
