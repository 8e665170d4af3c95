/**
 * The files `deno task serve` reads before it listens (TLS certificate and
 * key, token files), each problem one line for the user.
 *
 * @module
 */

import { StartupError, UsageError } from "../cli/mod.ts";
import { TokenSet } from "./token_set.ts";

/**
 * Read a text file, turning a missing, unreadable or directory path into a
 * {@linkcode StartupError} that names it.
 *
 * @param path The file.
 * @param what What it is, for the message (`TLS key`).
 * @returns Its text.
 */
export async function readStartupFile(
  path: string,
  what: string,
): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new StartupError(`${what} ${path} does not exist`, {
        cause: error,
      });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new StartupError(
        `${what} ${path} cannot be read: permission denied`,
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new StartupError(`${what} ${path} is a directory`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Read the PEM certificate chain and key given by `--tls-cert` and
 * `--tls-key`, which go together.
 *
 * @param certFile The certificate chain, if given.
 * @param keyFile The private key, if given.
 * @returns Both texts, or `undefined` when neither flag is given.
 * @throws {UsageError} When only one is given.
 */
export async function readTlsFiles(
  certFile: string | undefined,
  keyFile: string | undefined,
): Promise<{ cert: string; key: string } | undefined> {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  return {
    cert: await readStartupFile(certFile, "TLS certificate"),
    key: await readStartupFile(keyFile, "TLS key"),
  };
}

/**
 * Read a token file (one token per line, `#` comments).
 *
 * @param path The file.
 * @param what What it is, for the message (`HTTP token file`).
 * @returns Its tokens.
 * @throws {StartupError} When it cannot be read or holds no token.
 */
export async function readTokenFile(
  path: string,
  what: string,
): Promise<TokenSet> {
  const text = await readStartupFile(path, what);
  try {
    return TokenSet.parse(text);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new StartupError(`${what} ${path} holds no token`);
    }
    throw error;
  }
}
