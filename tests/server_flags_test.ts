/**
 * The server's command line (`server/main.ts`) as a real subprocess: every
 * flag is in `--help`; bad values and unusable files cost one clear line
 * and the right exit code (2 for flag mistakes, 1 for failures to start),
 * never a stack trace; `--log-format json` and `--log-level`; and the limit
 * and timer flags (given in seconds) take effect.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  barrier,
  closeAll,
  concat,
  join,
  nextError,
  RawClient,
  sendBatches,
  takeUntil,
  text,
  waitUntil,
} from "./_kit.ts";
import {
  runDeno,
  type RunResult,
  SERVER_MAIN,
  startServerProcess,
} from "./_process.ts";
import { makeCertificate } from "./_tls.ts";
import { SERVER_FLAGS } from "../server/settings.ts";

/** The flags server/main.ts declares (from the table in server/settings.ts). */
function declaredFlags(): string[] {
  return Object.keys(SERVER_FLAGS);
}

/** No line looks like a JavaScript stack frame or an uncaught error. */
function assertNoStackTrace(result: RunResult): void {
  for (const line of [...result.stderr, ...result.stdout]) {
    assert.doesNotMatch(line, /^\s+at .*:\d+:\d+\)?$/, line);
    assert.doesNotMatch(line, /Uncaught|^error: /, line);
  }
}

function serve(args: string[]): Promise<RunResult> {
  return runDeno(SERVER_MAIN, args, { timeoutMs: 5000 });
}

/** Run several one-shot commands, two at a time (the machine has 2 cores). */
async function serveAll(cases: string[][]): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (let i = 0; i < cases.length; i += 2) {
    results.push(...await Promise.all(cases.slice(i, i + 2).map(serve)));
  }
  return results;
}

Deno.test("Server flags: --help lists every flag main.ts declares, those of the issue included, and exits 0", async () => {
  const declared = declaredFlags();
  const issue = [
    "host",
    "port",
    "tls-cert",
    "tls-key",
    "token-file",
    "handshake-timeout",
    "max-clients",
    "max-pending-bytes",
    "write-deadline",
    "max-msgs-per-sec",
    "msg-burst",
    "max-room-name-bytes",
    "max-nickname-bytes",
    "ping-interval",
    "idle-timeout",
    "shutdown-grace",
    "http-port",
    "http-host",
    "log-format",
    "log-level",
  ];
  for (const flag of issue) assert.ok(declared.includes(flag), flag);
  const result = await serve(["--help"]);
  assert.equal(result.code, 0);
  const help = result.stdout.join("\n");
  for (const flag of declared) {
    assert.match(help, new RegExp(`--${flag}\\b`), `--${flag} not in --help`);
  }
  assert.match(help, /text \| json/);
  assert.match(help, /debug \| info \| warn \| error/);
  assert.deepEqual(result.stderr, []);
});

Deno.test("Server flags: a bad flag or value costs one line naming it and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["--log-level", "loud"],
      /--log-level must be one of debug, info, warn, error, got 'loud'/,
    ],
    [["--log-format", "xml"], /--log-format must be one of text, json/],
    [["--tls-cert", "cert.pem"], /--tls-cert and --tls-key go together/],
    [["--tls-key", "key.pem"], /--tls-cert and --tls-key go together/],
    [["--port", "70000"], /--port must be at most 65535/],
    [["--http-port=-1"], /--http-port must be at least 0/],
    [["--port=-1"], /--port must be at least 0/],
    [["--port", "-1"], /--port/],
    [["--max-clients=-1"], /--max-clients must be at least 0/],
    [["--ping-interval", "soon"], /--ping-interval needs a number/],
    [["--idle-timeout=-2"], /--idle-timeout must be at least 0/],
    [["--handshake-timeout", "x"], /--handshake-timeout needs a number/],
    [["--write-deadline=-1"], /--write-deadline must be at least 0/],
    [["--shutdown-grace=-1"], /--shutdown-grace must be at least 0/],
    [["--msg-burst", "0"], /--msg-burst must be at least 1/],
    [["--max-msgs-per-sec=-5"], /--max-msgs-per-sec must be at least 0/],
    [
      ["--max-pending-bytes", "10"],
      /--max-pending-bytes must be at least 262144/,
    ],
    [
      ["--max-room-name-bytes", "65"],
      /--max-room-name-bytes must be at most 64/,
    ],
    [["--max-nickname-bytes", "0"], /--max-nickname-bytes must be at least 1/],
    [
      ["--presence-max-members", "1.5"],
      /--presence-max-members needs a whole number/,
    ],
    [["--token-file"], /--token-file/],
    [["--bogus"], /Unknown option '--bogus'/],
    [["stray"], /Unexpected argument 'stray'/],
  ];
  const results = await serveAll(cases.map(([args]) => args));
  results.forEach((result, i) => {
    const [args, message] = cases[i];
    const what = args.join(" ");
    assert.equal(result.code, 2, `${what}: exit ${result.code}`);
    assert.equal(result.stderr.length, 1, `${what}: ${result.stderr}`);
    assert.match(result.stderr[0], /^hubbub serve: /, what);
    assert.match(result.stderr[0], message, what);
    assert.deepEqual(result.stdout, [], what);
    assertNoStackTrace(result);
  });
});

Deno.test("Server flags: missing or unusable files cost one clear line and exit 1", async () => {
  const certificate = await makeCertificate();
  const dir = certificate.dir;
  await Deno.writeTextFile(`${dir}/empty-tokens.txt`, "# nobody\n\n   \n");
  await Deno.writeTextFile(`${dir}/garbage.pem`, "not a certificate\n");
  try {
    const cases: [string[], RegExp][] = [
      [
        ["--token-file", `${dir}/missing.txt`],
        /Token file .*missing\.txt does not exist/,
      ],
      [["--token-file", dir], /Token file .* is a directory/],
      [
        ["--token-file", `${dir}/empty-tokens.txt`],
        /Token file .* holds no token/,
      ],
      [
        ["--tls-cert", `${dir}/missing.pem`, "--tls-key", certificate.keyFile],
        /TLS certificate .*missing\.pem does not exist/,
      ],
      [
        ["--tls-cert", certificate.certFile, "--tls-key", `${dir}/missing.pem`],
        /TLS key .*missing\.pem does not exist/,
      ],
      [
        ["--tls-cert", `${dir}/garbage.pem`, "--tls-key", certificate.keyFile],
        /TLS certificate/,
      ],
    ];
    const results = await serveAll(
      cases.map(([args]) => ["--port", "0", ...args]),
    );
    results.forEach((result, i) => {
      const [args, message] = cases[i];
      const what = args.join(" ");
      assert.equal(result.code, 1, `${what}: exit ${result.code}`);
      assert.equal(result.stderr.length, 1, `${what}: ${result.stderr}`);
      assert.match(result.stderr[0], /^hubbub serve: /, what);
      assert.match(result.stderr[0], message, what);
      assertNoStackTrace(result);
    });
  } finally {
    await certificate.remove();
  }
});

Deno.test("Server flags: a certificate and a key that do not belong together cost one line and exit 1", async () => {
  const one = await makeCertificate();
  const other = await makeCertificate();
  try {
    const result = await serve([
      "--port",
      "0",
      "--tls-cert",
      one.certFile,
      "--tls-key",
      other.keyFile,
    ]);
    assert.equal(result.code, 1);
    assertNoStackTrace(result);
    assert.equal(result.stderr.length, 1, result.stderr.join("\n"));
    assert.match(result.stderr[0], /^hubbub serve: .*(TLS|key)/);
  } finally {
    await one.remove();
    await other.remove();
  }
});

Deno.test("Server flags: a busy --port or --http-port costs one line and exit 1, naming the listener that could not bind", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const [chat, http] = await serveAll([
      ["--port", String(port)],
      ["--port", "0", "--http-port", String(port)],
    ]);
    for (
      const [result, prefix] of [
        [chat, ""],
        [http, "HTTP listener \\(--http-port\\): "],
      ] as const
    ) {
      assert.equal(result.code, 1);
      assert.equal(result.stderr.length, 1, result.stderr.join("\n"));
      assert.match(
        result.stderr[0],
        new RegExp(
          `^hubbub serve: ${prefix}Address 127\\.0\\.0\\.1:${port} is already in use`,
        ),
      );
      assertNoStackTrace(result);
    }
  } finally {
    taken.close();
  }
});

Deno.test("Server flags: --log-format json writes one JSON object per line, lifecycle lines with the client id", async () => {
  const server = await startServerProcess([
    "--log-format",
    "json",
    "--log-level",
    "debug",
  ]);
  const a = await RawClient.connect(server.port);
  try {
    await join(a, "den");
    await a.send(Tag.NICK, "jay");
    await a.next(Tag.PRESENCE);
    await a.close();
    await server.process.waitForLine("stderr", /Client disconnected/);
  } finally {
    await server.stop();
  }
  const lines = server.lines.map((line) => JSON.parse(line));
  for (const line of lines) {
    assert.equal(typeof line.time, "string");
    assert.ok(!Number.isNaN(Date.parse(line.time)));
    assert.ok(["debug", "info", "warn", "error"].includes(line.level));
    assert.equal(typeof line.msg, "string");
  }
  const byMsg = (msg: string) => lines.find((line) => line.msg === msg);
  assert.equal(byMsg("Listening").address, `127.0.0.1:${server.port}`);
  assert.equal(byMsg("Client connected").id, a.id);
  assert.match(byMsg("Client connected").address, /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(
    [byMsg("Client joined room").id, byMsg("Client joined room").room],
    [a.id, "den"],
  );
  assert.equal(byMsg("Client set nickname").nick, "jay");
  const gone = byMsg("Client disconnected");
  assert.deepEqual([gone.id, gone.nick, gone.reason], [a.id, "jay", "gone"]);
  assert.equal(byMsg("Stopped").level, "info");
});

Deno.test("Server flags: --log-level warn keeps warnings and the Listening line, drops info lines", async () => {
  const server = await startServerProcess(["--log-level", "warn"]);
  const calm = await RawClient.connect(server.port);
  const rude = await RawClient.connect(server.port);
  try {
    const header = new Uint8Array(24);
    new DataView(header.buffer).setBigUint64(0, 10_000n);
    await rude.write(header);
    await rude.waitForEnd();
    await server.process.waitForLine("stderr", /WARN .*reason=protocol/);
    await calm.close();
    const late = await RawClient.connect(server.port);
    await barrier(late);
    await late.close();
  } finally {
    await closeAll(calm, rude);
    await server.stop();
  }
  assert.match(server.lines[0], /INFO {2}Listening/);
  assert.ok(!server.lines.some((l) => /Client connected/.test(l)));
  assert.ok(
    !server.lines.some((l) => /Client disconnected .*reason=gone/.test(l)),
  );
  assert.ok(server.lines.some((l) => /WARN .*reason=protocol/.test(l)));
});

Deno.test("Server flags: --log-level error drops warnings too", async () => {
  const server = await startServerProcess([
    "--log-level",
    "error",
    "--max-clients",
    "1",
  ]);
  const a = await RawClient.connect(server.port);
  const b = await RawClient.connect(server.port, { handshake: false });
  try {
    assert.equal(text(await b.next()), "server full");
  } finally {
    await closeAll(a, b);
    await server.stop();
  }
  assert.deepEqual(
    server.lines.filter((l) => !/Listening|Shutting down|Stopped/.test(l)),
    [],
  );
});

Deno.test("Server flags: the limit flags take effect", async () => {
  const server = await startServerProcess([
    "--max-clients",
    "2",
    "--max-msgs-per-sec",
    "5",
    "--msg-burst",
    "5", // JOIN and NICK share the limit: three tokens go to them below
    "--max-room-name-bytes",
    "5",
    "--max-nickname-bytes",
    "3",
    "--presence-max-members",
    "1",
  ]);
  const a = await RawClient.connect(server.port);
  const b = await RawClient.connect(server.port);
  const c = await RawClient.connect(server.port, { handshake: false });
  try {
    assert.equal(text(await c.next()), "server full");
    await a.send(Tag.JOIN, "sixsix");
    assert.equal(
      (await nextError(a)).reason,
      "room name is longer than 5 bytes",
    );
    await a.send(Tag.NICK, "four");
    assert.equal(
      (await nextError(a)).reason,
      "nickname is longer than 3 bytes",
    );
    // Presence only in rooms of at most one member.
    await join(a, "hut");
    await join(b, "hut");
    assert.deepEqual(
      (await barrier(a)).filter((f) => f.tag === Tag.PRESENCE),
      [],
    );
    await a.write(concat(
      encodeFrame(Tag.CHAT, 0, "1"),
      encodeFrame(Tag.CHAT, 0, "2"),
      encodeFrame(Tag.CHAT, 0, "3"),
    ));
    const frames = await barrier(a);
    assert.equal(frames.filter((f) => f.tag === Tag.CHAT).length, 2);
    const notice = frames.find((f) => f.tag === Tag.ERROR)!;
    assert.match(text(notice), /rate limit of 5 messages per second/);
  } finally {
    await closeAll(a, b, c);
    await server.stop();
  }
});

Deno.test("Server flags: --ping-interval and --idle-timeout are in seconds", async () => {
  const server = await startServerProcess([
    "--ping-interval",
    "0.05",
    "--idle-timeout",
    "0.3",
  ]);
  const a = await RawClient.connect(server.port);
  try {
    const started = performance.now();
    const frames = await takeUntil(a, (f) => f.tag === Tag.ERROR, 3000);
    const after = performance.now() - started;
    assert.ok(frames.filter((f) => f.tag === Tag.PING).length >= 2);
    assert.equal(text(frames[frames.length - 1]), "idle timeout");
    assert.ok(after >= 250 && after < 2000, `dropped after ${after} ms`);
  } finally {
    await a.close();
    await server.stop();
  }
});

Deno.test("Server flags: --handshake-timeout is in seconds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-flags-" });
  await Deno.writeTextFile(`${dir}/tokens`, "s3cret\n");
  const server = await startServerProcess([
    "--token-file",
    `${dir}/tokens`,
    "--handshake-timeout",
    "0.1",
  ]);
  const a = await RawClient.connect(server.port, { handshake: false });
  try {
    const started = performance.now();
    assert.equal(
      text(await a.next(undefined, 3000)),
      "authentication timed out",
    );
    const after = performance.now() - started;
    assert.ok(after >= 80 && after < 2000, `dropped after ${after} ms`);
  } finally {
    await a.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Server flags: --write-deadline (seconds) and --max-pending-bytes drop slow consumers", async () => {
  const server = await startServerProcess([
    "--write-deadline",
    "0.2",
    "--max-pending-bytes",
    String(256 * 1024 * 1024),
    "--max-msgs-per-sec",
    "0",
  ]);
  const stuck = await RawClient.connect(server.port, { read: false });
  const sender = await RawClient.connect(server.port);
  try {
    const body = "z".repeat(400);
    const batch = concat(
      ...Array.from({ length: 1000 }, () => encodeFrame(Tag.CHAT, 0, body)),
    );
    // At most 60 batches, stopping once the slow consumer is dropped.
    await sendBatches(
      sender,
      60 * 1000,
      () => batch,
      () => server.lines.some((l) => /slow_consumer/.test(l)),
    );
    await waitUntil(
      () => server.lines.some((l) => /slow_consumer/.test(l)),
      "a slow-consumer line",
    );
    const line = server.lines.find((l) => /slow_consumer/.test(l))!;
    assert.match(line, /id=1\b.*write stalled with \d+ bytes pending/);
  } finally {
    await closeAll(stuck, sender);
    await server.stop();
  }
});
