/**
 * A mistake on the command line: an unknown flag, a missing or malformed
 * value. The program prints the message on one line and exits with status 2.
 */
export class UsageError extends Error {
  /** @param message What is wrong, in sentence case. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * A failure to start that the user can fix (a busy port, a missing file).
 * The program prints the message on one line and exits with status 1.
 */
export class StartupError extends Error {
  /**
   * @param message What went wrong, in sentence case.
   * @param options The underlying error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StartupError";
  }
}
