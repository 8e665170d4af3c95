/**
 * Admission (server/admission.ts) without sockets or timers: the client cap,
 * the per-address connection rate, the handshake allowance, AUTH and the
 * handshake timeout, with the time given as explicit values.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  Admission,
  type AdmissionOptions,
  AWAIT_AUTH,
  HANDSHAKE_TIMED_OUT,
  REGISTER,
} from "../server/admission.ts";
import { Connection } from "../server/connection.ts";
import { DisconnectReason } from "../server/events.ts";
import type { Farewell } from "../server/farewell.ts";
import { HandshakeAllowance } from "../server/handshake_allowance.ts";
import { Logger } from "../server/logger.ts";
import { Metrics } from "../server/metrics.ts";
import { TokenSet } from "../server/token_set.ts";

let port = 1000;
/** A connection from `host` (a new port each time). */
function newcomer(host = "10.0.0.1"): Connection {
  const transport = {
    remoteAddress: `${host}:${port++}`,
    write: () => new Promise<number>(() => {}),
    close() {},
  } as ConstructorParameters<typeof Connection>[0];
  return new Connection(transport, 1024, () => {});
}

function setup(
  options: Partial<AdmissionOptions> = {},
  { handshakes = 10, connectsPerSecond = 0, connectBurst = 1 } = {},
) {
  const metrics = new Metrics();
  const allowance = new HandshakeAllowance(handshakes);
  const admission = new Admission(
    {
      tokens: null,
      maxClients: 0,
      handshakeTimeoutMs: 0,
      maxAddressConnectsPerSecond: connectsPerSecond,
      addressConnectBurst: connectBurst,
      maxMessagesPerSecond: 0,
      maxAddressMessagesPerSecond: 0,
      addressMessageBurst: 1,
      ...options,
    },
    allowance,
    new Logger({ level: "error", write: () => {} }),
    metrics,
  );
  return { admission, allowance, metrics };
}

/** The reason and ERROR of a refusal. */
function refusal(verdict: unknown): [string, string | undefined] {
  const farewell = verdict as Farewell;
  assert.equal(typeof farewell, "object", `a refusal, not ${verdict}`);
  return [farewell.reason, farewell.error];
}

const tokens = TokenSet.parse("secret\n");
const auth = (token: string) => encodeFrame(Tag.AUTH, 0, token);

Deno.test("Admission: without tokens a newcomer registers at once, until maxClients are registered", () => {
  const { admission } = setup({ maxClients: 2 });
  assert.equal(admission.admit(newcomer(), 0, 0), REGISTER);
  assert.equal(admission.admit(newcomer(), 1, 0), REGISTER);
  assert.deepEqual(refusal(admission.admit(newcomer(), 2, 0)), [
    DisconnectReason.ServerFull,
    "server full",
  ]);
});

Deno.test("Admission: an address over its connection rate is refused, others are not, and a released connection does not refill the rate", () => {
  const { admission } = setup({}, { connectsPerSecond: 1, connectBurst: 2 });
  const first = newcomer();
  assert.equal(admission.admit(first, 0, 0), REGISTER);
  assert.equal(admission.admit(newcomer(), 0, 0), REGISTER);
  admission.release(first);
  assert.equal(first.address, null);
  assert.deepEqual(refusal(admission.admit(newcomer(), 0, 0)), [
    DisconnectReason.ConnectRateLimited,
    "too many connections from your address",
  ]);
  assert.equal(admission.admit(newcomer("10.0.0.2"), 0, 0), REGISTER);
  assert.equal(admission.admit(newcomer(), 0, 1000), REGISTER, "a second on");
});

Deno.test("Admission: with tokens a newcomer awaits AUTH holding a handshake place; beyond the allowance it is refused 'server busy'", () => {
  const { admission, allowance } = setup({ tokens }, { handshakes: 1 });
  const a = newcomer();
  assert.equal(admission.admit(a, 0, 0), AWAIT_AUTH);
  assert.equal(allowance.inUse, 1);
  assert.equal(admission.awaitingCount, 1);
  const b = newcomer();
  assert.deepEqual(refusal(admission.admit(b, 0, 0)), [
    DisconnectReason.HandshakeLimit,
    "server busy",
  ]);
  admission.release(b); // the hub drops it: it held no place
  assert.equal(allowance.inUse, 1);
  admission.release(a);
  assert.equal(allowance.inUse, 0);
  assert.equal(admission.awaitingCount, 0);
});

Deno.test("Admission: the first frame must be AUTH with an accepted token (whitespace around it trimmed); either way the place is given back", () => {
  const { admission, allowance, metrics } = setup({ tokens });
  const cases: [Uint8Array, unknown][] = [
    [encodeFrame(Tag.CHAT, 0, "secret"), [
      DisconnectReason.Auth,
      "authentication required",
    ]],
    [auth("wrong"), [DisconnectReason.Auth, "authentication failed"]],
    [auth("\0secret"), [DisconnectReason.Auth, "authentication failed"]],
    [auth(" secret\r\n"), REGISTER],
  ];
  for (const [frame, expected] of cases) {
    const client = newcomer();
    assert.equal(admission.admit(client, 0, 0), AWAIT_AUTH);
    const verdict = admission.authenticate(client, frame, 0);
    assert.deepEqual(
      verdict === REGISTER ? verdict : refusal(verdict),
      expected,
    );
    assert.equal(allowance.inUse, 0);
    assert.equal(client.original, verdict !== REGISTER);
  }
  assert.equal(metrics.authFailures, 2);
});

Deno.test("Admission: a connection authenticated after the client slots filled is refused 'server full'", () => {
  const { admission } = setup({ tokens, maxClients: 1 });
  const client = newcomer();
  assert.equal(admission.admit(client, 0, 0), AWAIT_AUTH);
  assert.deepEqual(refusal(admission.authenticate(client, auth("secret"), 1)), [
    DisconnectReason.ServerFull,
    "server full",
  ]);
});

Deno.test("Admission: expire returns exactly the connections whose handshake timeout has run out, their places given back", () => {
  const { admission, allowance } = setup({ tokens, handshakeTimeoutMs: 500 });
  const early = newcomer();
  const late = newcomer();
  admission.admit(early, 0, 1000);
  admission.admit(late, 0, 1200);
  assert.deepEqual(admission.expire(1499), []);
  assert.deepEqual(admission.expire(1500), [early]);
  assert.equal(allowance.inUse, 1);
  assert.deepEqual([...admission.awaiting()], [late]);
  assert.deepEqual(admission.expire(1700), [late]);
  assert.equal(allowance.inUse, 0);
  assert.equal(HANDSHAKE_TIMED_OUT.error, "authentication timed out");
});

Deno.test("Admission: with no handshake timeout a connection may wait for AUTH forever", () => {
  const { admission } = setup({ tokens, handshakeTimeoutMs: 0 });
  admission.admit(newcomer(), 0, 0);
  assert.deepEqual(admission.expire(1e9), []);
  assert.equal(admission.awaitingCount, 1);
});
