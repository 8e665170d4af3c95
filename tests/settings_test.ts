/**
 * The server's settings: the defaults pass their own checks, and
 * `startServer`'s checks of options given in code name the setting and its
 * range, one message per kind of rule.
 */

import assert from "node:assert/strict";
import {
  DEFAULT_HUB_OPTIONS,
  Logger,
  MIN_PENDING_BYTES,
  validateHubOptions,
} from "../server/mod.ts";

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
