import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** One command-line option. */
export type OptionSpec =
  | {
    type: "boolean";
    description: string;
    short?: string;
  }
  | {
    type: "string";
    description: string;
    default?: string;
    /** Placeholder in the help text, for example `FILE`. */
    valueName?: string;
    /** The accepted values, if only a few are. */
    choices?: readonly string[];
    short?: string;
  }
  | {
    type: "integer" | "number";
    description: string;
    default?: number;
    valueName?: string;
    /** Smallest accepted value (inclusive). */
    min?: number;
    /** Largest accepted value (inclusive). */
    max?: number;
    short?: string;
  };

/** A command: its name in messages, a one-line summary and its options. */
export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** How the command is run, for example `deno task serve`. */
  usage: string;
  /** The name that prefixes error lines, for example `hubbub serve`. */
  name: string;
  /** What the command does, one or two sentences. */
  summary: string;
  /** The options by their long name (without `--`). */
  options: O;
  /** Extra text after the option list (examples, notes). */
  epilog?: string;
}

type ValueOf<S extends OptionSpec> = S extends { type: "boolean" } ? boolean
  : S extends { type: "string"; default: string } ? string
  : S extends { type: "string" } ? string | undefined
  : S extends { default: number } ? number
  : number | undefined;

/** The parsed values of a command's options, typed from its spec. */
export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: ValueOf<O[K]>;
};

/**
 * Declare a command. An identity function that fixes the option types.
 *
 * @param spec The command.
 * @returns The same spec.
 */
export function defineCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
): CommandSpec<O> {
  return spec;
}

function flagOf(name: string): string {
  return `--${name}`;
}

const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function parseNumber(
  name: string,
  spec: Extract<OptionSpec, { type: "integer" | "number" }>,
  text: string,
): number {
  const pattern = spec.type === "integer" ? INTEGER : DECIMAL;
  const value = Number(text);
  const valid = pattern.test(text) && Number.isFinite(value);
  if (!valid) {
    const kind = spec.type === "integer" ? "a whole number" : "a number";
    throw new UsageError(`${flagOf(name)} needs ${kind}, got '${text}'`);
  }
  if (spec.min !== undefined && value < spec.min) {
    throw new UsageError(
      `${flagOf(name)} must be at least ${spec.min}, got ${text}`,
    );
  }
  if (spec.max !== undefined && value > spec.max) {
    throw new UsageError(
      `${flagOf(name)} must be at most ${spec.max}, got ${text}`,
    );
  }
  return value;
}

function describeParseError(error: Error & { code?: string }): string {
  const option = /'(-{1,2}[^' ,]+)/.exec(error.message)?.[1];
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `Unknown option '${option ?? "?"}'`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `Unexpected argument '${
        /'([^']*)'/.exec(error.message)?.[1] ?? "?"
      }'`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return error.message.includes("does not take an argument")
        ? `Option '${option ?? "?"}' takes no value`
        : `Option '${option ?? "?"}' needs a value`;
    default:
      return error.message;
  }
}

/** An argument that is a negative number, not a flag: `-5`, `-0.5`, `-.5`. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `parseArgs` reads `--clients -5` as a flag without its value; join a
 * negative number to the flag before it (`--clients=-5`) when that flag takes
 * a value, so the value is judged (and refused as out of range) instead.
 */
function joinNegativeValues<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  args: string[],
): string[] {
  const takesValue = new Map<string, string>();
  for (const [name, option] of Object.entries(spec.options)) {
    if (option.type === "boolean") continue;
    takesValue.set(flagOf(name), flagOf(name));
    if (option.short) takesValue.set(`-${option.short}`, flagOf(name));
  }
  const joined: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === "--") {
      joined.push(...args.slice(index));
      break;
    }
    const flag = takesValue.get(arg);
    const next = args[index + 1];
    if (
      flag !== undefined && next !== undefined && NEGATIVE_NUMBER.test(next)
    ) {
      joined.push(`${flag}=${next}`);
      index++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/**
 * Parse `args` against a command's options.
 *
 * @param spec The command.
 * @param args The arguments, usually `Deno.args`.
 * @returns The values, with defaults filled in, and whether `--help` and
 * `--version` were given.
 * @throws {UsageError} For an unknown option, a missing or malformed value, a
 * value out of range or not among the choices, or a stray argument.
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  args: string[],
): { help: boolean; version: boolean; values: OptionValues<O> } {
  const config: Record<string, { type: "string" | "boolean"; short?: string }> =
    {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean" },
    };
  for (const [name, option] of Object.entries(spec.options)) {
    config[name] = {
      type: option.type === "boolean" ? "boolean" : "string",
      ...(option.short ? { short: option.short } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(spec, args),
      options: config,
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(
      describeParseError(error as Error & { code?: string }),
    );
  }
  const raw = parsed.values as Record<string, string | boolean | undefined>;
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec.options)) {
    const given = raw[name];
    if (option.type === "boolean") {
      values[name] = given === true;
    } else if (given === undefined) {
      values[name] = option.default;
    } else if (option.type === "string") {
      const text = given as string;
      if (text.length === 0) {
        throw new UsageError(`${flagOf(name)} needs a value`);
      }
      if (option.choices && !option.choices.includes(text)) {
        throw new UsageError(
          `${flagOf(name)} must be one of ${
            option.choices.join(", ")
          }, got '${text}'`,
        );
      }
      values[name] = text;
    } else {
      values[name] = parseNumber(name, option, given as string);
    }
  }
  return {
    help: raw.help === true,
    version: raw.version === true,
    values: values as OptionValues<O>,
  };
}

/**
 * The `--help` text of a command: usage, summary and one line per option
 * with its default.
 *
 * @param spec The command.
 * @returns The help text, ending in a newline.
 */
export function formatHelp<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
): string {
  const rows: [string, string][] = [];
  for (const [name, option] of Object.entries(spec.options)) {
    let left = option.short ? `-${option.short}, ` : "    ";
    left += flagOf(name);
    if (option.type !== "boolean") {
      left += " " +
        (option.valueName ?? (option.type === "string" ? "TEXT" : "N"));
    }
    let right = option.description;
    if (option.type === "string" && option.choices) {
      right += ` (${option.choices.join(" | ")})`;
    }
    if (option.type !== "boolean" && option.default !== undefined) {
      right += ` [default: ${option.default}]`;
    }
    rows.push([left, right]);
  }
  rows.push(["-h, --help", "Show this help and exit"]);
  rows.push(["    --version", "Show the version and exit"]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [
    `Usage: ${spec.usage}`,
    "",
    spec.summary,
    "",
    "Options:",
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
  ];
  if (spec.epilog) lines.push("", spec.epilog.trimEnd());
  return lines.join("\n") + "\n";
}
