import {
  BoundedLogWriter,
  DEFAULT_LOG_BUFFER_BYTES,
  type LogSink,
} from "./log_writer.ts";
import { LogThrottle, type LogThrottleOptions } from "./log_throttle.ts";

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Log line formats. */
export const LOG_FORMATS = ["text", "json"] as const;

/** One of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Structured fields attached to a log line. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped. Default `"info"`. */
  level?: LogLevel;
  /** `"text"` (default): `time LEVEL message key=value…`; `"json"`: one object a line. */
  format?: LogFormat;
  /**
   * Where lines go, synchronously (tests capture them). Default: standard
   * error through a {@linkcode BoundedLogWriter}, which never blocks.
   */
  write?: (line: string) => void;
  /** Where lines go asynchronously when `write` is not given. Default `Deno.stderr`. */
  sink?: LogSink;
  /**
   * Bound of the queue to standard error, in bytes; past it lines are
   * dropped and counted. Default {@linkcode DEFAULT_LOG_BUFFER_BYTES}.
   */
  bufferBytes?: number;
  /** Rate limit of warnings a client causes (see {@linkcode LogThrottle}). */
  throttle?: LogThrottleOptions;
  /** Clock of the rate limit, in ms. Default `performance.now`. */
  now?: () => number;
}

/** Most lines of one warning a second from one address, by default. */
export const WARNINGS_PER_ADDRESS_PER_SECOND = 10;

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** The host part of `host:port` (IPv4, or IPv6 with or without brackets). */
function hostOf(address: string): string {
  return address.replace(/:\d+$/, "");
}

/**
 * A small leveled logger writing one line per event, as text or JSON.
 *
 * Logging never blocks the caller: by default lines go to standard error
 * through a bounded queue with one asynchronous write in flight, and lines
 * that do not fit are dropped and counted ({@linkcode droppedLines}), with a
 * line saying how many once the queue has drained. Warnings and errors that
 * name a client's `address` are rate-limited per kind (message and reason)
 * and source host: past the limit they are suppressed and counted
 * ({@linkcode suppressedLines}), and a "Repeated warnings suppressed" line
 * gives the count when the window ends.
 *
 * @example Usage
 * ```ts
 * import { Logger } from "./logger.ts";
 * const lines: string[] = [];
 * const logger = new Logger({ write: (line) => lines.push(line) });
 * logger.info("client connected", { id: 1, address: "127.0.0.1:5000" });
 * console.log(lines[0].endsWith("client connected id=1 address=127.0.0.1:5000")); // true
 * ```
 */
export class Logger {
  #threshold: number;
  #format: LogFormat;
  #write: (line: string) => void;
  #writer: BoundedLogWriter | null = null;
  #droppedReported = 0;
  #throttle: LogThrottle;
  #now: () => number;
  #muted = false;

  /** @param options Level, format, destination and limits. */
  constructor(options: LoggerOptions = {}) {
    this.#threshold = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#format = options.format ?? "text";
    this.#throttle = new LogThrottle({
      perWindow: WARNINGS_PER_ADDRESS_PER_SECOND,
      ...options.throttle,
    });
    this.#now = options.now ?? (() => performance.now());
    if (options.write !== undefined) {
      this.#write = options.write;
    } else {
      const writer = new BoundedLogWriter(
        options.sink ?? Deno.stderr,
        options.bufferBytes ?? DEFAULT_LOG_BUFFER_BYTES,
      );
      this.#writer = writer;
      this.#write = (line) => writer.write(line);
    }
  }

  /**
   * Write nothing from now on: for a start that failed after something was
   * running, whose one-line error is all the user should see.
   */
  mute(): void {
    this.#threshold = LOG_LEVELS.length;
    this.#muted = true;
  }

  /** Lines dropped because standard error did not take them fast enough. */
  get droppedLines(): number {
    return this.#writer?.dropped ?? 0;
  }

  /** Lines a client caused that the rate limit suppressed. */
  get suppressedLines(): number {
    return this.#throttle.suppressed;
  }

  /**
   * Whether lines of `level` are written.
   *
   * @param level The level to ask about.
   * @returns `true` when such lines are not dropped.
   */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#threshold;
  }

  /** Log at debug level. @param message What happened. @param fields Details. */
  debug(message: string, fields?: LogFields): void {
    this.log("debug", message, fields);
  }

  /** Log at info level. @param message What happened. @param fields Details. */
  info(message: string, fields?: LogFields): void {
    this.log("info", message, fields);
  }

  /** Log at warn level. @param message What happened. @param fields Details. */
  warn(message: string, fields?: LogFields): void {
    this.log("warn", message, fields);
  }

  /** Log at error level. @param message What happened. @param fields Details. */
  error(message: string, fields?: LogFields): void {
    this.log("error", message, fields);
  }

  /**
   * Write one line if `level` is enabled (and, for a warning about a client,
   * the rate limit allows).
   *
   * @param level The line's level.
   * @param message What happened, in sentence case.
   * @param fields Details as key/value pairs; `undefined` values are left out.
   * @param always Write the line whatever the threshold (used for the start
   * line, which tools read).
   */
  log(
    level: LogLevel,
    message: string,
    fields: LogFields = {},
    always = false,
  ): void {
    if (this.#muted || (!always && !this.enabled(level))) return;
    const now = this.#now();
    this.#summarise(now, false);
    const address = fields.address;
    if (
      (level === "warn" || level === "error") && typeof address === "string"
    ) {
      const reason = fields.reason === undefined ? "" : String(fields.reason);
      const kind = JSON.stringify([level, message, reason, hostOf(address)]);
      const overflow = JSON.stringify([level, message, reason, "*"]);
      if (!this.#throttle.admit(kind, now, overflow)) return;
    }
    this.#emit(level, message, fields);
  }

  /**
   * Write the summaries still due, then wait until every queued line is
   * written or `timeoutMs` passes (a reader that stopped never drains).
   *
   * @param timeoutMs Longest wait, in ms.
   * @returns `true` when everything was written.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    this.#summarise(this.#now(), true);
    return await this.#writer?.flush(timeoutMs) ?? true;
  }

  #text(level: LogLevel, message: string, fields: LogFields): string {
    const time = new Date().toISOString();
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
    return line;
  }

  /** The summary lines due: suppressed warnings, and lines dropped. */
  #summarise(now: number, force: boolean): void {
    for (const { kind, suppressed } of this.#throttle.sweep(now, force)) {
      const [level, message, reason, address] = JSON.parse(kind) as string[];
      this.#emit(level as LogLevel, "Repeated warnings suppressed", {
        warning: message,
        reason: reason === "" ? undefined : reason,
        address: address === "*" ? "other addresses" : address,
        suppressed,
      });
    }
    const writer = this.#writer;
    if (
      writer !== null && writer.dropped > this.#droppedReported &&
      writer.queuedBytes === 0
    ) {
      const dropped = writer.dropped - this.#droppedReported;
      this.#droppedReported = writer.dropped;
      this.#emit("warn", "Log lines dropped: standard error was not read", {
        dropped,
      });
    }
  }

  /** Write a line the rate limit does not apply to. */
  #emit(level: LogLevel, message: string, fields: LogFields): void {
    this.#format === "json"
      ? this.#write(JSON.stringify({
        time: new Date().toISOString(),
        level,
        msg: message,
        ...fields,
      }))
      : this.#write(this.#text(level, message, fields));
  }
}
