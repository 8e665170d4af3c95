/**
 * The server's settings (server/settings.ts): the defaults pass their own
 * checks; `startServer`'s checks of options given in code name the setting
 * and its range, one message per kind of rule; the command-line table shows
 * durations in seconds and gives the options milliseconds, and with no flag
 * gives the same settings as the programmatic defaults.
 */

import assert from "node:assert/strict";
import { defineCommand, parseCommandLine } from "../cli/mod.ts";
import {
  DEFAULT_HUB_OPTIONS,
  Logger,
  MIN_PENDING_BYTES,
  SERVER_SETTINGS,
  validateHubOptions,
} from "../server/mod.ts";
import {
  SERVER_FLAGS,
  serverSettingsOf,
  settingsFromCommandLine,
} from "../server/settings.ts";

const quiet = new Logger({ write: () => {} });

function withSetting(name: string, value: number) {
  return { ...DEFAULT_HUB_OPTIONS, logger: quiet, tokens: null, [name]: value };
}

Deno.test("Settings: the defaults pass the checks of startServer", () => {
  validateHubOptions({ ...DEFAULT_HUB_OPTIONS, logger: quiet, tokens: null });
});

Deno.test("Settings: a setting out of range is refused with its name and range", () => {
  const cases: [string, number, string][] = [
    ["maxClients", -1, "maxClients must be a whole number, 0 or more"],
    ["maxClients", 1.5, "maxClients must be a whole number, 0 or more"],
    ["maxHandshakes", 0, "maxHandshakes must be a whole number, 1 or more"],
    [
      "maxPendingBytes",
      MIN_PENDING_BYTES - 1,
      `maxPendingBytes must be a whole number, at least ${MIN_PENDING_BYTES}`,
    ],
    ["inputHighWater", 0, "inputHighWater must be a whole number, 1 or more"],
    ["writeDeadlineMs", -1, "writeDeadlineMs must be a number, 0 or more"],
    ["lingerMs", Number.NaN, "lingerMs must be a number, 0 or more"],
    ["idleTimeoutMs", Infinity, "idleTimeoutMs must be a number, 0 or more"],
    [
      "handshakeTimeoutMs",
      -0.5,
      "handshakeTimeoutMs must be a number, 0 or more",
    ],
    [
      "maxControlFramesPerSecond",
      -1,
      "maxControlFramesPerSecond must be a number, 0 or more",
    ],
    ["messageBurst", 0, "messageBurst must be a whole number, 1 or more"],
    [
      "addressConnectBurst",
      2.5,
      "addressConnectBurst must be a whole number, 1 or more",
    ],
    ["maxRoomNameBytes", 65, "maxRoomNameBytes must be from 1 to 64"],
    ["maxNicknameBytes", 0, "maxNicknameBytes must be from 1 to 32"],
    [
      "presenceMaxMembers",
      -1,
      "presenceMaxMembers must be a whole number, 0 or more",
    ],
  ];
  for (const [name, value, message] of cases) {
    assert.throws(
      () => validateHubOptions(withSetting(name, value)),
      { name: "RangeError", message },
      `${name} = ${value}`,
    );
  }
});

Deno.test("Settings: the edges of each range are accepted", () => {
  for (
    const [name, value] of [
      ["maxClients", 0],
      ["maxPendingBytes", MIN_PENDING_BYTES],
      ["maxRoomNameBytes", 64],
      ["maxNicknameBytes", 1],
      ["writeDeadlineMs", 0],
      ["maxMessagesPerSecond", 0.5],
    ] as const
  ) {
    validateHubOptions(withSetting(name, value));
  }
});

const serve = defineCommand({
  usage: "serve",
  name: "serve",
  summary: "Test.",
  options: SERVER_FLAGS,
});

/** The settings a command line gives, as `deno task serve` reads them. */
function settingsOf(args: string[]) {
  return settingsFromCommandLine(parseCommandLine(serve, args).values);
}

Deno.test("Settings: a flag in seconds shows its default and range in seconds and sets the option in ms", () => {
  assert.equal(SERVER_FLAGS["write-deadline"].default, 10);
  assert.equal(SERVER_FLAGS["http-head-timeout"].min, 0.001);
  assert.equal(SERVER_FLAGS["max-pending-bytes"].min, MIN_PENDING_BYTES);
  const settings = settingsOf([
    "--write-deadline",
    "0.25",
    "--ping-interval",
    "2",
    "--http-head-timeout",
    "0.5",
    "--max-clients",
    "7",
  ]);
  assert.equal(settings.writeDeadlineMs, 250);
  assert.equal(settings.pingIntervalMs, 2000);
  assert.equal(settings.httpHeadTimeoutMs, 500);
  assert.equal(settings.maxClients, 7);
  assert.equal(settings.shutdownGraceMs, 5000);
  assert.equal(settings.httpPort, undefined);
  assert.equal(settings.quiet, false);
});

Deno.test("Settings: an empty command line gives startServer the same settings as its defaults", () => {
  const given = serverSettingsOf(settingsOf([]));
  const flagless = ["inputHighWater", "lingerMs"];
  const expected: Record<string, unknown> = {
    hostname: SERVER_SETTINGS.hostname.default,
    port: SERVER_SETTINGS.port.default,
  };
  for (const [name, value] of Object.entries(DEFAULT_HUB_OPTIONS)) {
    if (!flagless.includes(name)) expected[name] = value;
  }
  assert.deepEqual(given, expected);
});

Deno.test("Settings: every default is within its own range", () => {
  for (const [name, spec] of Object.entries(SERVER_SETTINGS)) {
    if (!("min" in spec) || !("default" in spec)) continue;
    assert.ok(spec.default >= spec.min, name);
    if ("max" in spec) assert.ok(spec.default <= spec.max, name);
  }
});
