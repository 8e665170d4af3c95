/**
 * Unit tests of the terminal client's one-line explanations of failed
 * connections (client/_connection_problems.ts), from the error texts Deno
 * and rustls give.
 */

import assert from "node:assert/strict";
import {
  explainConnectError,
  explainEarlyEnd,
  isFinalRefusal,
} from "../client/_connection_problems.ts";

const plain = {
  address: "127.0.0.1:9000",
  host: "127.0.0.1",
  port: 9000,
  tls: false,
};
const tls = { ...plain, tls: true };

Deno.test("Connection problems: each TLS handshake error becomes its fix", () => {
  const cases: [string, RegExp][] = [
    ["invalid peer certificate: UnknownIssuer", /pass --ca FILE/],
    [
      "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
      /is a CA certificate .*CA:FALSE/,
    ],
    ["invalid peer certificate: NotValidForName", /not valid for 127\.0\.0\.1/],
    ["invalid peer certificate: Expired", /expired/],
    ["invalid peer certificate: BadSignature", /does not match .*--ca/],
    [
      "received corrupt message of type InvalidContentType",
      /does not speak TLS; leave out --tls/,
    ],
    [
      "peer closed connection without sending TLS close_notify",
      /does not speak TLS/,
    ],
  ];
  for (const [message, fix] of cases) {
    const line = explainConnectError(new Deno.errors.InvalidData(message), tls);
    assert.match(line, /^Cannot connect to 127\.0\.0\.1:9000: /);
    assert.match(line, fix);
    assert.doesNotMatch(line, /\n/);
  }
});

Deno.test("Connection problems: refused and unknown errors; unknown text is made inert", () => {
  assert.match(
    explainConnectError(new Deno.errors.ConnectionRefused("x"), plain),
    /connection refused/,
  );
  assert.equal(
    explainConnectError(new Error("odd\x1b[2J\nthing"), plain),
    "Cannot connect to 127.0.0.1:9000: odd␛[2J␊thing",
  );
});

Deno.test("Connection problems: a connection ended before the greeting", () => {
  assert.match(
    explainEarlyEnd(
      { refusal: "authentication required", firstByte: 0 },
      plain,
    ),
    /refused the connection: authentication required; it needs a token: pass --token TOKEN$/,
  );
  assert.match(
    explainEarlyEnd({ refusal: "authentication failed", firstByte: 0 }, plain),
    /the token is wrong/,
  );
  assert.match(
    explainEarlyEnd({ refusal: "server full", firstByte: 0 }, plain),
    /refused the connection: server full$/,
  );
  // A TLS alert record, or a TLS handshake that worked on the same port.
  assert.match(
    explainEarlyEnd({ refusal: null, firstByte: 0x15 }, plain),
    /speaks TLS; add --tls/,
  );
  assert.match(
    explainEarlyEnd(
      { refusal: null, firstByte: null, tlsAnswered: true },
      plain,
    ),
    /speaks TLS; add --tls/,
  );
  assert.match(
    explainEarlyEnd({ refusal: null, firstByte: null }, plain),
    /closed the connection before greeting \(if it speaks TLS, add --tls\)$/,
  );
  assert.match(
    explainEarlyEnd(
      { refusal: null, firstByte: null, greetedBefore: true },
      plain,
    ),
    /closed the connection before greeting$/,
  );
});

Deno.test("Connection problems: only authentication refusals are final", () => {
  assert.equal(isFinalRefusal("authentication failed"), true);
  assert.equal(isFinalRefusal("authentication required"), true);
  assert.equal(isFinalRefusal("server full"), false);
  assert.equal(isFinalRefusal("server busy"), false);
});
