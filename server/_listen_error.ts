/**
 * Why `deno task serve` could not listen, as one line for the user.
 *
 * @module
 */

import { StartupError } from "../cli/mod.ts";

/**
 * Turn a failure to listen on `address` into a {@linkcode StartupError} that
 * says what to fix (a busy port, an address not on this machine, a
 * privileged port, an unusable certificate, an unknown host); rethrow
 * anything else.
 *
 * @param error What `Deno.listen` (or the TLS setup) threw.
 * @param address `host:port`, for the message.
 * @throws {StartupError} Always, unless the error is not one of these.
 */
export function listenError(error: unknown, address: string): never {
  if (error instanceof Deno.errors.AddrInUse) {
    throw new StartupError(`Address ${address} is already in use`, {
      cause: error,
    });
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    throw new StartupError(
      `Address ${address} is not available on this machine`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    throw new StartupError(`Not allowed to listen on ${address}`, {
      cause: error,
    });
  }
  if (
    error instanceof Error &&
    /certificate|private key|pem|tls/i.test(error.message)
  ) {
    throw new StartupError(
      `Cannot use the TLS certificate or key: ${error.message}`,
      { cause: error },
    );
  }
  if (error instanceof Error && /lookup|resolve|name/i.test(error.message)) {
    throw new StartupError(
      `Cannot resolve the host in ${address}: ${error.message}`,
      { cause: error },
    );
  }
  throw error;
}
