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
  /** Where lines go. Default: standard error. */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function writeToStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/**
 * A small leveled logger writing one line per event, as text or JSON.
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

  /** @param options Level, format and destination. */
  constructor(options: LoggerOptions = {}) {
    this.#threshold = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#format = options.format ?? "text";
    this.#write = options.write ?? writeToStderr;
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
   * Write one line if `level` is enabled.
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
    if (!always && !this.enabled(level)) return;
    const time = new Date().toISOString();
    if (this.#format === "json") {
      this.#write(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
    this.#write(line);
  }
}
