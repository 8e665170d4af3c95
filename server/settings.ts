/**
 * Every setting of the server, declared once: its option name, its flag of
 * `deno task serve`, its type, unit, default, range and help text. From
 * this one table come the {@linkcode HubOptions} type, the defaults
 * ({@linkcode DEFAULT_HUB_OPTIONS}), the checks `startServer` makes of
 * options given in code ({@linkcode validateHubOptions}), and the option
 * table of the command line ({@linkcode SERVER_FLAGS}).
 *
 * Values are in the option's unit (milliseconds for durations); a flag
 * with `unit: "seconds"` takes seconds, so its default and range are shown
 * and checked in seconds.
 *
 * @example Usage
 * ```ts
 * import { DEFAULT_HUB_OPTIONS, SERVER_FLAGS, SERVER_SETTINGS } from "./settings.ts";
 * console.log(SERVER_SETTINGS.writeDeadlineMs.default); // 10000
 * console.log(DEFAULT_HUB_OPTIONS.writeDeadlineMs); // 10000
 * console.log(SERVER_FLAGS["write-deadline"].default); // 10
 * ```
 *
 * @module
 */

import type { OptionSpec, OptionValues } from "../cli/mod.ts";
import { MAX_NICKNAME_BYTES, MAX_ROOM_NAME_BYTES } from "../protocol/mod.ts";
import { COALESCE_WRITE_RATE } from "./flush_policy.ts";
import { DEFAULT_MAX_HANDSHAKES } from "./handshake_allowance.ts";
import {
  DEFAULT_HTTP_HEADER_TIMEOUT_MS,
  DEFAULT_HTTP_MAX_CONNECTIONS,
} from "./http_server.ts";
import type { Clock } from "./clock.ts";
import { LOG_FORMATS, LOG_LEVELS, type Logger } from "./logger.ts";
import { DEFAULT_LOG_BUFFER_BYTES } from "./log_writer.ts";
import { MAX_READ_BUFFER } from "./transport/tcp/reader.ts";
import type { TokenSet } from "./token_set.ts";
import type { HistoryStore } from "./history/mod.ts";
import type { ClusterBackend } from "./cluster_hub.ts";

/**
 * Where a setting's value goes: a {@linkcode HubOptions} field, an option of
 * `startServer` of its own (the address), or only `deno task serve` (files,
 * logging, the HTTP endpoint, the shutdown grace).
 */
export type SettingScope = "hub" | "server" | "command-line";

/** The declaration of one setting (see {@linkcode SERVER_SETTINGS}). */
export type SettingSpec =
  | {
    scope: SettingScope;
    type: "boolean";
    /** Its flag, without `--`. */
    flag: string;
    /** Help text of the flag. */
    description: string;
  }
  | {
    scope: SettingScope;
    type: "string";
    flag: string;
    description: string;
    default?: string;
    /** Placeholder in the help text, for example `FILE`. */
    valueName?: string;
    /** The accepted values, if only a few are. */
    choices?: readonly string[];
  }
  | {
    scope: SettingScope;
    type: "integer" | "number";
    /** Its flag, without `--`; none for a setting only code can give. */
    flag?: string;
    /** Help text of the flag, or what the setting does. */
    description: string;
    /** Default, in the option's unit. */
    default?: number;
    /** Smallest accepted value (inclusive), in the option's unit. */
    min: number;
    /** Largest accepted value (inclusive), in the option's unit. */
    max?: number;
    /** The flag's unit when it differs: seconds for an option in ms. */
    unit?: "seconds";
    valueName?: string;
  };

/**
 * Smallest accepted outbound queue bound: four of the largest chunks a
 * reader hands the hub at once, so that a client reading at full speed always
 * has room for one chunk in flight and the next ones queued.
 */
export const MIN_PENDING_BYTES = 4 * MAX_READ_BUFFER;

/**
 * Every server setting, in the order of `deno task serve --help`. Durations
 * are in ms; for these settings 0 turns a rule off unless said otherwise.
 */
export const SERVER_SETTINGS = {
  /** Address to listen on. */
  hostname: {
    scope: "server",
    type: "string",
    flag: "host",
    default: "127.0.0.1",
    valueName: "HOST",
    description: "Address to listen on",
  },
  /** Port to listen on; 0 picks a free one. */
  port: {
    scope: "server",
    type: "integer",
    flag: "port",
    default: 9000,
    min: 0,
    max: 65535,
    valueName: "PORT",
    description: "Port to listen on (0 picks a free one)",
  },
  tlsCertFile: {
    scope: "command-line",
    type: "string",
    flag: "tls-cert",
    valueName: "FILE",
    description: "Serve TLS with this PEM certificate chain (needs --tls-key)",
  },
  tlsKeyFile: {
    scope: "command-line",
    type: "string",
    flag: "tls-key",
    valueName: "FILE",
    description: "PEM private key for --tls-cert",
  },
  tokenFile: {
    scope: "command-line",
    type: "string",
    flag: "token-file",
    valueName: "FILE",
    description:
      "Require AUTH with one of the tokens in FILE (one per line, # comments)",
  },
  /** With auth on, drop a client that has not authenticated within this. */
  handshakeTimeoutMs: {
    scope: "hub",
    type: "number",
    flag: "handshake-timeout",
    default: 10_000,
    min: 0,
    unit: "seconds",
    valueName: "SECONDS",
    description:
      "Drop a connection that has not finished its TLS handshake, or (with --token-file) sent AUTH, by then (0: no AUTH deadline; a TLS handshake still gets 10 s)",
  },
  /** Most clients at once, 0 for no limit; a client over it gets ERROR "server full". */
  maxClients: {
    scope: "hub",
    type: "integer",
    flag: "max-clients",
    default: 0,
    min: 0,
    valueName: "N",
    description:
      "Most clients at once; more get ERROR 'server full' (0: up to the open-file limit)",
  },
  /**
   * Connections at once still in their handshake (TLS, or awaiting AUTH).
   * They take no client slot; a newcomer over this bound is refused.
   */
  maxHandshakes: {
    scope: "hub",
    type: "integer",
    flag: "max-handshakes",
    default: DEFAULT_MAX_HANDSHAKES,
    min: 1,
    valueName: "N",
    description:
      "Most connections at once still in their TLS handshake or awaiting AUTH (they take no client slot); more are refused, with ERROR 'server busy' once TLS is up",
  },
  /** Bound of each client's outbound queue in bytes. */
  maxPendingBytes: {
    scope: "hub",
    type: "integer",
    flag: "max-pending-bytes",
    default: 1024 * 1024,
    min: MIN_PENDING_BYTES,
    valueName: "BYTES",
    description:
      "Outbound queue bound per client; over it the client is dropped as a slow consumer",
  },
  /** A socket write making no progress for this long marks a slow consumer. */
  writeDeadlineMs: {
    scope: "hub",
    type: "number",
    flag: "write-deadline",
    default: 10_000,
    min: 0,
    unit: "seconds",
    valueName: "SECONDS",
    description:
      "Drop a client whose socket accepts nothing for this long (slow consumer)",
  },
  /**
   * Messages (CHAT, JOIN, NICK, ROOMS, WHO, HISTORY) a client may send per second
   * (token bucket rate); 0 turns every frame-rate limit off, the
   * per-address and control-frame ones included.
   */
  maxMessagesPerSecond: {
    scope: "hub",
    type: "number",
    flag: "max-msgs-per-sec",
    default: 1000,
    min: 0,
    valueName: "N",
    description:
      "Messages (CHAT, JOIN, NICK, ROOMS, WHO, HISTORY) per second per client; excess is dropped with an ERROR notice a second (0: no frame-rate limit at all, per-address and control-frame ones included)",
  },
  /** Token bucket size: messages a client may send at once. */
  messageBurst: {
    scope: "hub",
    type: "integer",
    flag: "msg-burst",
    default: 1000,
    min: 1,
    valueName: "N",
    description: "Messages a client may send at once before the rate applies",
  },
  /**
   * Messages per second all connections from one source address share
   * (IPv6: one /64), so reconnecting brings no fresh allowance; 0: no such limit.
   */
  maxAddressMessagesPerSecond: {
    scope: "hub",
    type: "number",
    flag: "max-address-msgs-per-sec",
    default: 3000,
    min: 0,
    valueName: "N",
    description:
      "Messages per second shared by all connections from one address (IPv6: one /64), so reconnecting brings no fresh allowance (0: no such limit)",
  },
  /** Messages one address's connections may send at once. */
  addressMessageBurst: {
    scope: "hub",
    type: "integer",
    flag: "address-msg-burst",
    default: 2000,
    min: 1,
    valueName: "N",
    description:
      "Messages one address's connections may send at once before that rate applies",
  },
  /** Control frames (PING, PONG, CLOSE, unknown tags) per second per client, as many at once; 0: no limit. */
  maxControlFramesPerSecond: {
    scope: "hub",
    type: "number",
    flag: "max-control-frames-per-sec",
    default: 100,
    min: 0,
    valueName: "N",
    description:
      "Other frames (PING, PONG, CLOSE, unknown tags) per second per client, as many at once; excess PINGs get no PONG (0: no limit)",
  },
  /** New connections per second from one source address; 0: no limit. */
  maxAddressConnectsPerSecond: {
    scope: "hub",
    type: "number",
    flag: "max-address-connects-per-sec",
    default: 50,
    min: 0,
    valueName: "N",
    description:
      "New connections per second from one address; more get ERROR 'too many connections from your address' (0: no limit)",
  },
  /** Connections one address may open at once before that rate applies. */
  addressConnectBurst: {
    scope: "hub",
    type: "integer",
    flag: "address-connect-burst",
    default: 500,
    min: 1,
    valueName: "N",
    description:
      "Connections one address may open at once before that rate applies",
  },
  /** Longest room name in UTF-8 bytes. */
  maxRoomNameBytes: {
    scope: "hub",
    type: "integer",
    flag: "max-room-name-bytes",
    default: MAX_ROOM_NAME_BYTES,
    min: 1,
    max: MAX_ROOM_NAME_BYTES,
    valueName: "BYTES",
    description: "Longest room name (at most the protocol's 64)",
  },
  /** Longest nickname in UTF-8 bytes. */
  maxNicknameBytes: {
    scope: "hub",
    type: "integer",
    flag: "max-nickname-bytes",
    default: MAX_NICKNAME_BYTES,
    min: 1,
    max: MAX_NICKNAME_BYTES,
    valueName: "BYTES",
    description: "Longest nickname (at most the protocol's 32)",
  },
  /** Rooms larger than this get no join/leave PRESENCE frames (0: never any). */
  presenceMaxMembers: {
    scope: "hub",
    type: "integer",
    flag: "presence-max-members",
    default: 100,
    min: 0,
    valueName: "N",
    description:
      "Announce joins, leaves and renames only in rooms of at most N members",
  },
  /**
   * Writes per second (were every batch flushed at once) above which small
   * batches are held back briefly and sent together, and big rooms' flush
   * rounds are spaced (see `FlushPolicy`); 0 never holds back.
   */
  coalesceWriteRate: {
    scope: "hub",
    type: "number",
    flag: "coalesce-write-rate",
    default: COALESCE_WRITE_RATE,
    min: 0,
    valueName: "N",
    description:
      "Over N socket writes a second, hold small batches back 0.1 ms, or space big rooms' flush rounds (20 us a write, at most 50 ms), to send output in fewer writes (0: never)",
  },
  /** Send PING to a client silent for this long. */
  pingIntervalMs: {
    scope: "hub",
    type: "number",
    flag: "ping-interval",
    default: 0,
    min: 0,
    unit: "seconds",
    valueName: "SECONDS",
    description: "Send PING to a client silent for this long",
  },
  /** Drop a client silent for this long. */
  idleTimeoutMs: {
    scope: "hub",
    type: "number",
    flag: "idle-timeout",
    default: 0,
    min: 0,
    unit: "seconds",
    valueName: "SECONDS",
    description: "Drop a client silent for this long (any frame counts)",
  },
  /** Drop a client whose frame, once begun, is not complete within this. */
  frameTimeoutMs: {
    scope: "hub",
    type: "number",
    flag: "frame-timeout",
    default: 5000,
    min: 0,
    unit: "seconds",
    valueName: "SECONDS",
    description:
      "Drop a client whose frame, once begun, is not complete by then (ERROR 'frame timeout'), whatever --idle-timeout says",
  },
  /** The SQLite file history is kept in (`:memory:`: none on disk). */
  historyDb: {
    scope: "command-line",
    type: "string",
    flag: "history-db",
    default: "./data/hubbub.db",
    valueName: "PATH",
    description:
      "Keep message history in this SQLite file, created with its folder (:memory: keeps it only while the server runs)",
  },
  noHistory: {
    scope: "command-line",
    type: "boolean",
    flag: "no-history",
    description: "Keep no history (HISTORY gets ERROR 'history is off')",
  },
  historyMaxPerRoom: {
    scope: "command-line",
    type: "integer",
    flag: "history-max-per-room",
    default: 10_000,
    min: 1,
    valueName: "N",
    description:
      "Messages of history kept per room; older ones are pruned in the background",
  },
  historyMaxAgeMs: {
    scope: "command-line",
    type: "integer",
    flag: "history-max-age",
    default: 604_800_000,
    min: 0,
    unit: "seconds",
    valueName: "SECONDS",
    description:
      "Prune history older than this in the background (0: no age limit)",
  },
  historyFlushMs: {
    scope: "command-line",
    type: "integer",
    flag: "history-flush-ms",
    default: 100,
    min: 1,
    valueName: "MS",
    description:
      "Write history in one transaction this often (what a kill -9 can lose)",
  },
  /** Cluster mode: the Redis the nodes share (else env REDIS_URL). */
  redis: {
    scope: "command-line",
    type: "string",
    flag: "redis",
    valueName: "URL",
    description:
      "Cluster mode: share rooms with the other nodes on this Redis (redis://HOST:PORT; default: env REDIS_URL, else a single server)",
  },
  /** Most messages in one answer to a HISTORY request. */
  historyMaxReply: {
    scope: "hub",
    type: "integer",
    flag: "history-max-reply",
    default: 200,
    min: 1,
    valueName: "N",
    description:
      "Most messages in one HISTORY reply (the client asks again for more)",
  },
  /** The longest `Server.shutdown` waits for queued frames to leave. */
  shutdownGraceMs: {
    scope: "command-line",
    type: "number",
    flag: "shutdown-grace",
    default: 5000,
    min: 0,
    unit: "seconds",
    valueName: "SECONDS",
    description: "On SIGINT/SIGTERM, time given to queued frames to leave",
  },
  httpPort: {
    scope: "command-line",
    type: "integer",
    flag: "http-port",
    min: 0,
    max: 65535,
    valueName: "PORT",
    description:
      "Serve /healthz, /metrics and /stats over HTTP on this port (0: a free one)",
  },
  httpHost: {
    scope: "command-line",
    type: "string",
    flag: "http-host",
    default: "127.0.0.1",
    valueName: "HOST",
    description: "Address of the HTTP listener",
  },
  httpTokenFile: {
    scope: "command-line",
    type: "string",
    flag: "http-token-file",
    valueName: "FILE",
    description:
      "Require Authorization: Bearer <token> for /metrics and /stats, with a token in FILE (one per line, # comments); needed off loopback",
  },
  httpMaxConnections: {
    scope: "command-line",
    type: "integer",
    flag: "http-max-connections",
    default: DEFAULT_HTTP_MAX_CONNECTIONS,
    min: 1,
    valueName: "N",
    description:
      "Most HTTP connections open at once; more wait in the kernel's backlog",
  },
  allowedOrigins: {
    scope: "command-line",
    type: "string",
    flag: "allowed-origins",
    valueName: "ORIGINS",
    description:
      "Origins whose pages may open the WebSocket /ws, comma-separated (https://chat.example), or *; the page's own origin always may",
  },
  httpHeadTimeoutMs: {
    scope: "command-line",
    type: "number",
    flag: "http-head-timeout",
    default: DEFAULT_HTTP_HEADER_TIMEOUT_MS,
    min: 1,
    unit: "seconds",
    valueName: "SECONDS",
    description:
      "Close an HTTP connection that has not sent its whole request head by then",
  },
  logFormat: {
    scope: "command-line",
    type: "string",
    flag: "log-format",
    default: "text",
    choices: LOG_FORMATS,
    valueName: "FORMAT",
    description: "Log line format",
  },
  logLevel: {
    scope: "command-line",
    type: "string",
    flag: "log-level",
    default: "info",
    choices: LOG_LEVELS,
    valueName: "LEVEL",
    description: "Least severe level logged",
  },
  logBufferBytes: {
    scope: "command-line",
    type: "integer",
    flag: "log-buffer-bytes",
    default: DEFAULT_LOG_BUFFER_BYTES,
    min: 4096,
    valueName: "BYTES",
    description:
      "Log lines waiting for a slow stderr reader; past it they are dropped and counted",
  },
  quiet: {
    scope: "command-line",
    type: "boolean",
    flag: "quiet",
    description:
      "Do not log a line per connect and disconnect (same as --log-level warn)",
  },
  /** Total bytes of unhandled input at which readers pause. */
  inputHighWater: {
    scope: "hub",
    type: "integer",
    default: 8 * 1024 * 1024,
    min: 1,
    description: "Total bytes of unhandled input at which readers pause",
  },
  /** Longest a dropped client's last frames may take to leave. */
  lingerMs: {
    scope: "hub",
    type: "number",
    default: 2000,
    min: 0,
    description: "Longest a dropped client's last frames may take to leave",
  },
} as const satisfies Record<string, SettingSpec>;

type Settings = typeof SERVER_SETTINGS;

/** The type of a setting's value. */
type ValueOf<S> = S extends { type: "boolean" } ? boolean
  : S extends { type: "string"; choices: readonly (infer C)[] } ? C
  : S extends { type: "string" } ? string
  : number;

/**
 * The values of the settings of one scope, by name. (A mapped type over
 * the table's own keys keeps each entry's doc comment for editors.)
 */
type ValuesIn<Scope extends SettingScope> = {
  [K in keyof Settings as Settings[K]["scope"] extends Scope ? K : never]:
    ValueOf<Settings[K]>;
};

/** The names of the settings that have a flag. */
type FlaggedNames = {
  [K in keyof Settings]: Settings[K] extends { flag: string } ? K : never;
}[keyof Settings];

/** Every numeric setting of the hub, by option name (durations in ms). */
export type HubSettings = ValuesIn<"hub">;

/**
 * Settings of a `Hub`: its numeric settings (durations in milliseconds; 0
 * turns a rule off) and what it works with.
 */
export interface HubOptions extends HubSettings {
  /** Where lifecycle lines go. */
  logger: Logger;
  /** Accepted tokens; `null` when no authentication is required. */
  tokens: TokenSet | null;
  /**
   * Where relayed messages are recorded and HISTORY requests answered;
   * `null` or absent: history is off. The server closes it on shutdown.
   */
  history?: HistoryStore | null;
  /**
   * Cluster mode's node (`--redis`): client ids, the Redis bus, members
   * across nodes; `null` or absent: a single server. The server closes it
   * on shutdown.
   */
  cluster?: ClusterBackend | null;
  /**
   * The one clock of the hub, its writers and readers (deadlines, timers,
   * rate limits); `systemClock` when not given. Not a CLI setting:
   * tests pass a fake one.
   */
  clock?: Clock;
}

/** The address `startServer` listens on. */
export type ServerAddress = ValuesIn<"server">;

/**
 * What `deno task serve` was given: every setting with a flag, by setting
 * name, in the option's unit (ms for durations); `undefined` for a flag
 * without default that was not given.
 */
export type CommandLineSettings = {
  [K in keyof Settings as Settings[K] extends { flag: string } ? K : never]:
    Settings[K] extends { type: "boolean" } ? boolean
      : Settings[K] extends { default: unknown } ? ValueOf<Settings[K]>
      : ValueOf<Settings[K]> | undefined;
};

/** The option spec of `cli/` for a setting. */
type FlagSpecOf<S> = S extends { type: "boolean" }
  ? Extract<OptionSpec, { type: "boolean" }>
  : S extends { type: "string"; default: string }
    ? Extract<OptionSpec, { type: "string" }> & { default: string }
  : S extends { type: "string" } ? Extract<OptionSpec, { type: "string" }>
  : S extends { default: number } ? NumberFlag & { default: number }
  : NumberFlag;

type NumberFlag = Extract<OptionSpec, { type: "integer" | "number" }>;

/** The option table of `deno task serve`, by flag. */
export type ServerFlags = {
  [K in FlaggedNames as Settings[K]["flag"]]: FlagSpecOf<Settings[K]>;
};

/** Milliseconds per unit of a setting's flag. */
function scaleOf(spec: SettingSpec): number {
  return spec.type !== "boolean" && spec.type !== "string" &&
      spec.unit === "seconds"
    ? 1000
    : 1;
}

function entries(): [string, SettingSpec][] {
  return Object.entries(SERVER_SETTINGS);
}

/**
 * The option table of `deno task serve` for `cli/` `defineCommand`: one
 * option per setting with a flag, its default and range in the flag's unit.
 */
export const SERVER_FLAGS: ServerFlags = (() => {
  const flags: Record<string, OptionSpec> = {};
  for (const [, spec] of entries()) {
    if (spec.flag === undefined) continue;
    if (spec.type === "boolean" || spec.type === "string") {
      const { scope: _scope, flag: _flag, ...option } = spec;
      flags[spec.flag] = option;
      continue;
    }
    const scale = scaleOf(spec);
    flags[spec.flag] = {
      type: spec.type,
      description: spec.description,
      ...(spec.default === undefined ? {} : { default: spec.default / scale }),
      min: spec.min / scale,
      ...(spec.max === undefined ? {} : { max: spec.max / scale }),
      ...(spec.valueName === undefined ? {} : { valueName: spec.valueName }),
    };
  }
  return flags as ServerFlags;
})();

/**
 * The settings a command line gives, by setting name and in the options'
 * units (seconds become ms).
 *
 * @param values What `cli/` parsed against {@linkcode SERVER_FLAGS}.
 * @returns The settings.
 */
export function settingsFromCommandLine(
  values: OptionValues<ServerFlags>,
): CommandLineSettings {
  const given = values as Record<string, unknown>;
  const settings: Record<string, unknown> = {};
  for (const [name, spec] of entries()) {
    if (spec.flag === undefined) continue;
    const value = given[spec.flag];
    settings[name] = typeof value === "number" ? value * scaleOf(spec) : value;
  }
  return settings as CommandLineSettings;
}

/**
 * The `startServer` options among a command line's settings: the address
 * and every hub setting it gives.
 *
 * @param settings From {@linkcode settingsFromCommandLine}.
 * @returns The address and the hub settings.
 */
export function serverSettingsOf(
  settings: CommandLineSettings,
): ServerAddress & Partial<HubSettings> {
  const picked: Record<string, unknown> = {};
  for (const [name, spec] of entries()) {
    if (spec.scope !== "command-line" && name in settings) {
      picked[name] = (settings as Record<string, unknown>)[name];
    }
  }
  return picked as ServerAddress & Partial<HubSettings>;
}

/** The default of every {@linkcode HubSettings} setting (durations in ms). */
export const DEFAULT_HUB_OPTIONS: Readonly<HubSettings> = Object.freeze(
  Object.fromEntries(
    entries().filter(([, spec]) => spec.scope === "hub").map((
      [name, spec],
    ) => [name, spec.type === "boolean" ? undefined : spec.default]),
  ) as HubSettings,
);

/** "0 or more", "at least 262144": a lower bound in words. */
function atLeast(min: number): string {
  return min <= 1 ? `${min} or more` : `at least ${min}`;
}

/**
 * Check hub settings before anything starts, against the ranges of
 * {@linkcode SERVER_SETTINGS}.
 *
 * @param options The settings.
 * @throws {RangeError} Naming the first setting out of range.
 */
export function validateHubOptions(options: HubOptions): void {
  const values = options as unknown as Record<string, unknown>;
  for (const [name, spec] of entries()) {
    if (spec.scope !== "hub" || spec.type === "boolean") continue;
    if (spec.type === "string") continue;
    const value = values[name];
    const whole = spec.type === "integer";
    const ok = typeof value === "number" &&
      (whole ? Number.isInteger(value) : Number.isFinite(value)) &&
      value >= spec.min && (spec.max === undefined || value <= spec.max);
    if (ok) continue;
    throw new RangeError(
      spec.max !== undefined
        ? `${name} must be from ${spec.min} to ${spec.max}`
        : `${name} must be ${whole ? "a whole number" : "a number"}, ${
          atLeast(spec.min)
        }`,
    );
  }
}
