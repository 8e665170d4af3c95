/**
 * The accept loop under failing accepts: a peer that connects and resets
 * before it is accepted makes `accept()` fail with ENOTCONN or ECONNABORTED;
 * that concerns one connection and must never pause accepting. Only
 * resource shortages back off. Unit tests drive the loop with a scripted
 * listener and a recording pause (no waiting); one test floods a real
 * server with resets from Python sockets closed with SO_LINGER 0.
 */

import assert from "node:assert/strict";
import {
  acceptConnections,
  AcceptErrorKind,
  classifyAcceptError,
} from "../server/transport/tcp/accept_loop.ts";
import { formatMetrics, Logger } from "../server/mod.ts";
import { deadline } from "./_deadline.ts";
import { RawClient } from "./_raw_client.ts";
import { withServer } from "./_server.ts";

/** An error as Deno's `accept` throws it: the errno name in `code`. */
function osError(
  type: new (message: string) => Error,
  code: string,
  errno: number,
  message: string,
): Error {
  return Object.assign(new type(`${message} (os error ${errno})`), { code });
}

const notConnected = () =>
  osError(
    Deno.errors.NotConnected,
    "ENOTCONN",
    107,
    "Transport endpoint is not connected",
  );
const aborted = () =>
  osError(
    Deno.errors.ConnectionAborted,
    "ECONNABORTED",
    103,
    "Software caused connection abort",
  );
const noBuffers = () =>
  osError(Error, "ENOBUFS", 105, "No buffer space available");

/**
 * A listener whose `accept` throws the scripted errors in order, then
 * yields `conn`, then reports the listener closed.
 */
function scriptedListener(errors: Error[], conn: Deno.Conn) {
  let index = 0;
  let served = false;
  return {
    accept(): Promise<Deno.Conn> {
      if (index < errors.length) return Promise.reject(errors[index++]);
      if (!served) {
        served = true;
        return Promise.resolve(conn);
      }
      return Promise.reject(new Deno.errors.BadResource("listener closed"));
    },
  };
}

/** Run the loop over `errors` then one connection; what it did. */
async function runLoop(errors: Error[]) {
  const conn = {} as Deno.Conn;
  const pauses: number[] = [];
  const kinds: string[] = [];
  const accepted: Deno.Conn[] = [];
  const lines: string[] = [];
  await deadline(
    acceptConnections(
      scriptedListener(errors, conn),
      {
        onConnection: (c) => accepted.push(c),
        onRefused: () => Promise.resolve(),
        onAcceptError: (kind) => kinds.push(kind),
      },
      new Logger({ level: "debug", write: (line) => lines.push(line) }),
      new AbortController().signal,
      (ms) => {
        pauses.push(ms);
        return Promise.resolve();
      },
    ),
    5000,
    "the accept loop to end",
  );
  return { pauses, kinds, accepted, lines, conn };
}

Deno.test("Accept loop: connections reset before accept never pause accepting", async () => {
  const errors = Array.from(
    { length: 400 },
    (_, i) => i % 2 ? notConnected() : aborted(),
  );
  const { pauses, kinds, accepted, lines, conn } = await runLoop(errors);
  assert.deepEqual(pauses, []);
  assert.deepEqual(accepted, [conn]);
  assert.equal(kinds.length, 400);
  assert.ok(kinds.every((kind) => kind === AcceptErrorKind.PeerGone));
  assert.deepEqual(lines.filter((line) => /\bWARN\b/.test(line)), []);
});

Deno.test("Accept loop: resource errors back off, doubling from 10 ms to at most 1 s", async () => {
  const errors = Array.from({ length: 9 }, noBuffers);
  const { pauses, kinds, accepted, lines } = await runLoop(errors);
  assert.deepEqual(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
  assert.equal(accepted.length, 1);
  assert.ok(kinds.every((kind) => kind === AcceptErrorKind.OutOfMemory));
  assert.equal(
    lines.filter((line) => /Accept failed; backing off/.test(line)).length,
    1,
  );
  assert.equal(lines.filter((line) => /Accepting again/.test(line)).length, 1);
});

Deno.test("Accept loop: resets between resource errors neither pause nor add to the backoff", async () => {
  const errors = [noBuffers(), notConnected(), notConnected(), noBuffers()];
  const { pauses } = await runLoop(errors);
  assert.deepEqual(pauses, [10, 20]);
});

Deno.test("Accept loop: accept errors are sorted by errno, from the code or the message", () => {
  assert.equal(classifyAcceptError(notConnected()), AcceptErrorKind.PeerGone);
  assert.equal(classifyAcceptError(aborted()), AcceptErrorKind.PeerGone);
  for (const code of ["ECONNRESET", "EPROTO", "ENETUNREACH", "EHOSTUNREACH"]) {
    assert.equal(
      classifyAcceptError(Object.assign(new Error(code), { code })),
      AcceptErrorKind.PeerGone,
      code,
    );
  }
  assert.equal(
    classifyAcceptError(new Error("Protocol error (os error 71)")),
    AcceptErrorKind.PeerGone,
  );
  assert.equal(
    classifyAcceptError(new Error("Too many open files (os error 24)")),
    AcceptErrorKind.OutOfFiles,
  );
  assert.equal(
    classifyAcceptError(new Error("Too many open files in system")),
    AcceptErrorKind.OutOfFiles,
  );
  assert.equal(
    classifyAcceptError(new Error("Cannot allocate memory (os error 12)")),
    AcceptErrorKind.OutOfMemory,
  );
  assert.equal(classifyAcceptError(noBuffers()), AcceptErrorKind.OutOfMemory);
  assert.equal(
    classifyAcceptError(new Error("something new")),
    AcceptErrorKind.Other,
  );
});

/** Python: connect `count` times to `port` and reset each at once. */
const RESETTER = `
import socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.connect(("127.0.0.1", port))
    s.close()
`;

Deno.test("Accept loop: a newcomer after 400 resets is served at once, and the failed accepts are counted", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const resets = await new Deno.Command("python3", {
      args: ["-c", RESETTER, String(port), "400"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(resets.code, 0, new TextDecoder().decode(resets.stderr));
    // With a backoff per reset, this newcomer waited minutes: 10 s is
    // far more than a served connection needs, even under load.
    const newcomer = await deadline(
      RawClient.connect(port),
      10_000,
      "ISSUE_ID for the newcomer",
    );
    assert.ok(newcomer.id > 0);
    const metrics = server.hub.metrics;
    const failed = metrics.acceptErrors.get(AcceptErrorKind.PeerGone) ?? 0;
    // Some resets may land after their accept and end as "gone" instead.
    const gone = metrics.disconnects.get("gone") ?? 0;
    assert.ok(failed > 0, "no accept failed: the test reset nothing in time");
    assert.ok(failed <= 400, `${failed} failed accepts`);
    assert.equal(metrics.acceptErrors.get(AcceptErrorKind.Other), undefined);
    assert.ok(failed + gone <= 400);
    assert.match(
      formatMetrics(server.hub),
      new RegExp(
        `^hubbub_accept_errors_total\\{kind="peer_gone"\\} ${failed}$`,
        "m",
      ),
    );
    await newcomer.close();
  });
});
