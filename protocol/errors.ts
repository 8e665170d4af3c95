import { MAX_FRAME_SIZE } from "./constants.ts";

/**
 * Thrown when a frame header announces a frame larger than
 * {@linkcode MAX_FRAME_SIZE}. The stream cannot be resynchronised after it:
 * the only safe reaction is to report the error and drop the connection.
 *
 * @example Usage
 * ```ts
 * import { FrameTooLargeError } from "./errors.ts";
 * const error = new FrameTooLargeError(1024);
 * console.log(error.message); // "Frame of 1024 bytes exceeds the 512-byte limit"
 * ```
 */
export class FrameTooLargeError extends RangeError {
  /**
   * The whole frame size the header announced, header included (rounded
   * past 2^53; the message has the exact figure).
   */
  readonly frameSize: number;

  /**
   * @param frameSize The announced frame size in bytes, header included: a
   * bigint when it may be past 2^53, so the message shows it exactly.
   */
  constructor(frameSize: number | bigint) {
    super(
      `Frame of ${frameSize} bytes exceeds the ${MAX_FRAME_SIZE}-byte limit`,
    );
    this.name = "FrameTooLargeError";
    this.frameSize = Number(frameSize);
  }
}
