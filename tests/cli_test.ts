/**
 * The server's command line, run as a real subprocess (`deno run
 * server/main.ts`): the start line, per-connection log lines, `--quiet`,
 * graceful stop on SIGTERM and SIGINT, a busy port, bad flags and `--help`.
 */

import assert from "node:assert/strict";
import { defineCommand, formatHelp, parseCommandLine } from "../cli/mod.ts";
import { Tag } from "../protocol/mod.ts";
import { deadline } from "./_deadline.ts";
import { RawClient, text } from "./_raw_client.ts";
import { spawnServer } from "./_server.ts";
import { serverArgs } from "./_process.ts";

const SERVER_MAIN = new URL("../server/main.ts", import.meta.url).pathname;

/** What a finished server process printed. */
interface Finished {
  code: number;
  stdout: string;
  stderr: string;
  /** Non-empty stderr lines. */
  errorLines: string[];
}

/**
 * Run `deno run server/main.ts …args` to its end (killing it after
 * `timeoutMs`, which fails the test) and collect its output.
 */
async function runServer(
  args: string[],
  timeoutMs = 15_000,
): Promise<Finished> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      SERVER_MAIN,
      ...serverArgs(args),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const output = child.output();
  try {
    const result = await deadline(
      output,
      timeoutMs,
      `server ${args.join(" ")} to exit`,
    );
    const decoder = new TextDecoder();
    const stderr = decoder.decode(result.stderr);
    return {
      code: result.code,
      stdout: decoder.decode(result.stdout),
      stderr,
      errorLines: stderr.split("\n").filter((line) => line.trim() !== ""),
    };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await output;
    throw error;
  }
}

/** A user mistake costs one line on stderr, never a stack trace. */
function assertOneCleanLine(result: Finished, pattern: RegExp): void {
  assert.equal(
    result.errorLines.length,
    1,
    `expected one stderr line, got:\n${result.stderr}`,
  );
  assert.match(result.errorLines[0], pattern);
  assert.match(result.errorLines[0], /^hubbub serve: /);
  assert.ok(
    !/^\s+at /m.test(result.stderr),
    `stack trace in:\n${result.stderr}`,
  );
  assert.ok(!/error: Uncaught/.test(result.stderr), result.stderr);
}

function localAddress(client: RawClient): string {
  const local = client.conn.localAddr as Deno.NetAddr;
  return `${local.hostname}:${local.port}`;
}

Deno.test("CLI: prints the Listening line with the bound address and serves on it", async () => {
  const server = await spawnServer();
  try {
    const listening = server.lines.find((line) => /Listening/.test(line))!;
    assert.match(listening, /\bINFO\b/);
    assert.match(
      listening,
      new RegExp(`address=127\\.0\\.0\\.1:${server.port}\\b`),
    );
    assert.ok(server.port > 0);
    const client = await RawClient.connect(server.port);
    assert.equal(client.id, 1);
    await client.close();
  } finally {
    const status = await server.stop();
    assert.equal(status.code, 0);
  }
});

Deno.test("CLI: logs one line per connect and per disconnect, with id and address", async () => {
  const server = await spawnServer();
  try {
    const a = await RawClient.connect(server.port);
    const b = await RawClient.connect(server.port);
    for (const client of [a, b]) {
      const line = await server.waitForLine(
        new RegExp(`Client connected id=${client.id}\\b`),
      );
      assert.ok(line.includes(`address=${localAddress(client)}`), line);
    }
    // One leaves with CLOSE, the other drops its socket.
    await a.send(Tag.CLOSE);
    await a.waitForEnd();
    await b.close();
    const aLine = await server.waitForLine(
      new RegExp(`Client disconnected id=${a.id}\\b`),
    );
    assert.ok(aLine.includes(`address=${localAddress(a)}`), aLine);
    assert.match(aLine, /reason=closed/);
    const bLine = await server.waitForLine(
      new RegExp(`Client disconnected id=${b.id}\\b`),
    );
    assert.ok(bLine.includes(`address=${localAddress(b)}`), bLine);
    assert.match(bLine, /reason=gone/);
    await a.close();
  } finally {
    const status = await server.stop();
    assert.equal(status.code, 0);
  }
  // Exactly one line of each kind per client over the whole run.
  const connects = server.lines.filter((l) => /Client connected/.test(l));
  const disconnects = server.lines.filter((l) => /Client disconnected/.test(l));
  assert.deepEqual(
    connects.map((l) => /id=(\d+)/.exec(l)?.[1]).sort(),
    ["1", "2"],
  );
  assert.deepEqual(
    disconnects.map((l) => /id=(\d+)/.exec(l)?.[1]).sort(),
    ["1", "2"],
  );
});

Deno.test("CLI: --quiet silences the connect and disconnect lines but keeps the Listening line", async () => {
  const server = await spawnServer(["--quiet"]);
  let status: Deno.CommandStatus;
  try {
    const a = await RawClient.connect(server.port);
    const b = await RawClient.connect(server.port);
    await a.send(Tag.CHAT, "hi");
    assert.equal(text(await b.next(Tag.CHAT)), "hi");
    await a.send(Tag.CLOSE);
    await a.waitForEnd();
    await Promise.all([a.close(), b.close()]);
    // One more client while the others' disconnects are being handled.
    const c = await RawClient.connect(server.port);
    assert.equal(c.id, 3);
    await c.close();
  } finally {
    status = await server.stop();
  }
  assert.equal(status.code, 0);
  assert.deepEqual(
    server.lines.filter((line) =>
      line.trim() !== "" && !/Listening/.test(line)
    ),
    [],
  );
  assert.equal(server.lines.filter((line) => /Listening/.test(line)).length, 1);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`CLI: ${signal} sends CLOSE to every client and exits 0`, async () => {
    const server = await spawnServer();
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        clients.push(await RawClient.connect(server.port));
      }
      await clients[0].send(Tag.CHAT, "before the signal");
      for (const client of clients) {
        assert.equal(text(await client.next(Tag.CHAT)), "before the signal");
      }
      const status = await deadline(server.stop(signal), 10_000, "exit");
      assert.equal(status.code, 0, server.lines.join("\n"));
      assert.equal(status.success, true);
      for (const client of clients) {
        const close = await client.next(Tag.CLOSE);
        assert.match(text(close), /shut/i);
        await client.waitForEnd();
      }
      assert.ok(
        server.lines.some((l) =>
          l.includes("Shutting down") && l.includes(signal)
        ),
        server.lines.join("\n"),
      );
      assert.ok(
        !server.lines.some((l) => /^\s+at /.test(l)),
        server.lines.join("\n"),
      );
    } finally {
      await server.stop();
      await Promise.all(clients.map((client) => client.close()));
    }
  });
}

Deno.test("CLI: a busy port costs one clear line on stderr and exit 1, no stack trace", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const result = await runServer(["--port", String(port)]);
    assert.equal(result.code, 1, result.stderr);
    assertOneCleanLine(result, new RegExp(`127\\.0\\.0\\.1:${port}.*in use`));
    assert.equal(result.stdout, "");
  } finally {
    listener.close();
  }
});

Deno.test("CLI: a bad flag or a bad value costs one line on stderr and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /--bogus/],
    [["--port"], /--port/],
    [["--port", "abc"], /--port.*abc/],
    [["--port", "1.5"], /--port.*1\.5/],
    [["--port", "70000"], /--port.*65535/],
    [["--quiet=yes"], /--quiet/],
    [["--log-level", "loud"], /--log-level.*loud/],
    [["stray"], /stray/],
  ];
  const results = await Promise.all(cases.map(([args]) => runServer(args)));
  results.forEach((result, i) => {
    const [args, pattern] = cases[i];
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assertOneCleanLine(result, pattern);
    assert.equal(result.stdout, "", args.join(" "));
  });
});

Deno.test("CLI: a negative number is an invalid value, not a missing one, for every program's flags", async () => {
  // The server through its process; the shared parser for every program.
  const result = await runServer(["--port", "-5"]);
  assert.equal(result.code, 2, result.stderr);
  assertOneCleanLine(result, /--port must be at least 0, got -5/);
  const command = defineCommand({
    usage: "test",
    name: "test",
    summary: "A command with every kind of flag.",
    options: {
      clients: { type: "integer", min: 1, description: "count" },
      rate: { type: "number", min: 0, description: "rate", short: "r" },
      offset: { type: "number", description: "any number" },
      name: { type: "string", description: "a name" },
    },
  });
  assert.throws(
    () => parseCommandLine(command, ["--clients", "-5"]),
    { message: "--clients must be at least 1, got -5" },
  );
  assert.throws(
    () => parseCommandLine(command, ["-r", "-0.5"]),
    { message: "--rate must be at least 0, got -0.5" },
  );
  const { values } = parseCommandLine(command, [
    "--offset",
    "-.25",
    "--name",
    "-3",
  ]);
  assert.equal(values.offset, -0.25);
  assert.equal(values.name, "-3");
  // A flag where a value belongs still means the value is missing.
  assert.throws(
    () => parseCommandLine(command, ["--name", "--clients", "3"]),
    { message: /--name.* needs a value/ },
  );
});

Deno.test("CLI: an empty --host costs one clear line, not a stack trace", async () => {
  const result = await runServer(["--host", "", "--port", "0"]);
  assert.ok(
    result.code === 1 || result.code === 2,
    `exit ${result.code}: ${result.stderr}`,
  );
  assertOneCleanLine(result, /host/i);
});

/** Every flag the server documents (a flag missing from --help fails). */
const DOCUMENTED_FLAGS = [
  "--host",
  "--port",
  "--quiet",
  "--help",
  "--tls-cert",
  "--tls-key",
  "--token-file",
  "--handshake-timeout",
  "--max-clients",
  "--max-pending-bytes",
  "--write-deadline",
  "--max-msgs-per-sec",
  "--msg-burst",
  "--max-room-name-bytes",
  "--max-nickname-bytes",
  "--presence-max-members",
  "--ping-interval",
  "--idle-timeout",
  "--shutdown-grace",
  "--http-port",
  "--http-host",
  "--log-format",
  "--log-level",
];

Deno.test("CLI: --help lists every flag, each of which the parser accepts, and exits 0", async () => {
  const result = await runServer(["--help"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  const help = result.stdout;
  assert.match(help, /^Usage: /);
  const listed = new Map<string, string>();
  for (const line of help.split("\n")) {
    const match = /^\s+(?:-\w, )?(--[\w-]+)(?: (\S+))?\s/.exec(line);
    if (match) listed.set(match[1], line);
  }
  for (const flag of DOCUMENTED_FLAGS) {
    assert.ok(listed.has(flag), `--help does not list ${flag}:\n${help}`);
  }
  // -h works as --help.
  const short = await runServer(["-h"]);
  assert.equal(short.code, 0);
  assert.equal(short.stdout, help);

  // Every listed flag is real: all of them at once, each with a value taken
  // from its own help line, parse cleanly (--help then exits before start).
  const args: string[] = [];
  for (const [flag, line] of listed) {
    if (flag === "--help") continue;
    const valueName = /^\s+(?:-\w, )?--[\w-]+ ([A-Z]+)\s/.exec(line)?.[1];
    if (valueName === undefined) {
      args.push(flag);
      continue;
    }
    const choice = /\(([\w-]+) \|/.exec(line)?.[1];
    const fallback = /\[default: ([^\]]+)\]/.exec(line)?.[1];
    const value = choice ?? fallback ??
      (/PORT|SECONDS|N$|BYTES/.test(valueName) ? "0" : "x");
    args.push(flag, value);
  }
  const all = await runServer([...args, "--help"]);
  assert.equal(all.code, 0, `${args.join(" ")}\n${all.stderr}`);
  assert.equal(all.stdout, help);
});

Deno.test("CLI: --version prints the program's name and deno.json's version and exits 0, in every program", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  assert.match(config.version, /^\d+\.\d+\.\d+/);
  for (
    const [name, main] of [
      ["hubbub serve", "../server/main.ts"],
      ["hubbub client", "../client/main.ts"],
      ["hubbub loadtest", "../client/loadtest/main.ts"],
      ["hubbub bench", "../bench/bench.ts"],
    ]
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      // No read permission: the version is built in, not read from a file.
      args: ["run", new URL(main, import.meta.url).pathname, "--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `${main}: ${stderr}`);
    assert.equal(
      new TextDecoder().decode(output.stdout),
      `${name} ${config.version}\n`,
    );
  }
});

Deno.test("CLI: --help lists --version, and the parser reports both flags", () => {
  const command = defineCommand({
    usage: "test",
    name: "test",
    summary: "A test.",
    options: {},
  });
  assert.match(formatHelp(command), /^\s+--version\s+Show the version/m);
  const parsed = parseCommandLine(command, ["--version", "--help"]);
  assert.equal(parsed.help, true);
  assert.equal(parsed.version, true);
  assert.equal(parseCommandLine(command, []).version, false);
});
