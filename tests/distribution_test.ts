/**
 * Distribution: `deno task bundle` writes one self-contained JavaScript file
 * per program (its workers' code inside), and `deno task compile` one
 * executable per program. Each build is copied out of the checkout and run
 * from there: the bundled (or compiled) server, two terminal clients chatting
 * through it, and the load generator for 2 s with two worker threads and the
 * open-loop ticker.
 *
 * `deno compile` downloads its runtime (denort) once per Deno version; where
 * that download is impossible the compile test is ignored, with the reason
 * printed when this file loads.
 */

import assert from "node:assert/strict";
import { Tag } from "../protocol/mod.ts";
import {
  DIST_DIR,
  outputPath,
  type Program,
  PROGRAMS,
  workerName,
} from "../build/programs.ts";
import { BUNDLED_WORKERS, workerUrl } from "../cli/worker_url.ts";
import { RawClient, text } from "./_kit.ts";
import { spawnDeno, type Spawned } from "./_process.ts";

const ROOT = new URL("../", import.meta.url);
const config = JSON.parse(
  await Deno.readTextFile(new URL("deno.json", ROOT)),
);

/** How a test starts one built program, with arguments. */
type Launch = (program: Program, args: string[], stdin?: boolean) => Spawned;

/** Run `deno task NAME` in the checkout; its output when it fails. */
async function denoTask(name: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: ["task", name],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
}

/** Copy `files` (paths from the root) into a new temporary directory. */
async function copyOut(files: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-dist-" });
  for (const file of files) {
    const name = file.slice(file.lastIndexOf("/") + 1);
    await Deno.copyFile(new URL(file, ROOT), `${dir}/${name}`);
    if (Deno.build.os !== "windows") await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  return dir;
}

function program(name: string): Program {
  return PROGRAMS.find((p) => p.name === name)!;
}

/**
 * The bundled or compiled programs working together: `--version`; a server
 * (whose coalescing hold starts its precise-timer worker); two terminal
 * clients that chat through it; the load generator for 2 s on two workers
 * with the open-loop ticker; then SIGTERM, and the server exits 0.
 */
async function programsWorkTogether(launch: Launch): Promise<void> {
  for (const p of PROGRAMS) {
    const version = launch(p, ["--version"]);
    const status = await version.wait(30_000);
    assert.equal(status.code, 0, version.stderr.join("\n"));
    assert.deepEqual(version.stdout, [`hubbub ${p.name} ${config.version}`]);
  }

  const server = launch(program("serve"), [
    // History on, in memory: its worker must come with the build.
    "--history-db",
    ":memory:",
    "--port",
    "0",
    "--max-msgs-per-sec",
    "0",
    // Hold output back at any write rate: the hold's timer is a worker.
    "--coalesce-write-rate",
    "1",
  ]);
  const clients: Spawned[] = [];
  let watcher: RawClient | null = null;
  try {
    const listening = await server.waitForLine(
      "stderr",
      /Listening/,
      30_000,
    );
    const port = /address=[^\s]+:(\d+)/.exec(listening)![1];
    watcher = await RawClient.connect(Number(port));

    for (let i = 0; i < 2; i++) {
      const client = launch(program("client"), ["--port", port], true);
      clients.push(client);
      await client.waitForLine("stdout", /as client/, 30_000);
    }
    await clients[0].writeLine("hello through the build");
    await clients[1].waitForLine("stdout", /hello through the build/, 15_000);
    const chat = await watcher.next(Tag.CHAT, 15_000);
    assert.equal(text(chat), "hello through the build");
    for (const client of clients) {
      await client.writeLine("/exit");
      const status = await client.wait(15_000);
      assert.equal(status.code, 0, client.stderr.join("\n"));
    }

    const loadtest = launch(program("loadtest"), [
      "--port",
      port,
      "--clients",
      "6",
      "--publishers",
      "2",
      "--rate",
      "100",
      "--duration",
      "2",
      "--warmup",
      "0.5",
      "--workers",
      "2",
      "--quiet",
    ]);
    const status = await loadtest.wait(60_000);
    const output = [...loadtest.stdout, ...loadtest.stderr].join("\n");
    assert.equal(status.code, 0, output);
    assert.match(output, /PASSED/);
    // The server outlived the hold's worker being loaded and used.
    assert.equal(server.exited, null, server.stderr.join("\n"));
  } finally {
    await watcher?.close();
    for (const client of clients) await client.stop("SIGKILL");
  }
  const status = await server.stop("SIGTERM", 30_000);
  assert.equal(status.code, 0, server.stderr.join("\n"));
}

/**
 * The modules `code` imports, as Deno's own parser finds them (`deno info`
 * on a copy outside the checkout): a text scan would also match import
 * statements that a bundled library only holds in a string.
 */
async function importSpecifiers(code: string): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-imports-" });
  try {
    const file = `${dir}/module.js`;
    await Deno.writeTextFile(file, code);
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-config", file],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(info.success, new TextDecoder().decode(info.stderr));
    const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
      modules: { specifier: string; dependencies?: { specifier: string }[] }[];
    };
    const root = graph.modules.find((m) => m.specifier.endsWith("/module.js"));
    return (root?.dependencies ?? []).map((d) => d.specifier);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Distribution: every program has a deno task with the permissions its build gets", () => {
  for (const p of PROGRAMS) {
    const task: string = config.tasks[p.name];
    assert.ok(task, `no deno task ${p.name}`);
    const flags = task.replace(/^deno run /, "").split(" ");
    assert.equal(flags.pop(), p.entry, `deno task ${p.name}: ${task}`);
    assert.deepEqual(
      flags.toSorted(),
      [...p.permissions, ...p.runtimeFlags].toSorted(),
      `deno task ${p.name}: ${task}`,
    );
  }
});

/**
 * The workers' code a bundle carries on its second line, by name (see
 * `cli/worker_url.ts`).
 */
function bundledWorkers(code: string): Record<string, string> {
  const line = code.split("\n", 2)[1];
  const prefix = `globalThis.${BUNDLED_WORKERS} = `;
  assert.ok(line.startsWith(prefix), `second line: ${line.slice(0, 80)}`);
  return JSON.parse(line.slice(prefix.length).replace(/;$/, ""));
}

Deno.test("Distribution: deno task bundle writes one self-contained JavaScript file per program; copied elsewhere, they chat and load-test", async () => {
  const built = await denoTask("bundle");
  const decoder = new TextDecoder();
  assert.ok(built.success, decoder.decode(built.stderr));
  const files = PROGRAMS.map((p) => outputPath(p, "bundle"));
  for (const p of PROGRAMS) {
    const file = outputPath(p, "bundle");
    assert.ok(file.startsWith(`${DIST_DIR}/`));
    const code = await Deno.readTextFile(new URL(file, ROOT));
    const workers = bundledWorkers(code);
    assert.deepEqual(
      Object.keys(workers).toSorted(),
      p.workers.map(workerName).toSorted(),
      `${file}: the workers it carries`,
    );
    for (const [name, source] of [["", code], ...Object.entries(workers)]) {
      const outside = (await importSpecifiers(source)).filter((s) =>
        !s.startsWith("node:")
      );
      assert.deepEqual(
        outside,
        [],
        `${file}${name && ` (worker ${name})`} imports what it does not hold`,
      );
    }
  }
  const dir = await copyOut(files);
  try {
    await programsWorkTogether((p, args, stdin) =>
      spawnDeno(`${dir}/hubbub-${p.name}.js`, args, {
        stdin,
        // Nothing from the checkout: no deno.json, no import map, no lock.
        permissions: ["--no-config", ...p.permissions, ...p.runtimeFlags],
      })
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Why `deno compile` cannot work here, or `null`: compile a one-line
 * program once; only a failure to get the runtime (denort) counts as a
 * reason, so that any other compile failure fails the test instead.
 */
async function compileUnavailable(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-compile-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, "console.log(1);\n");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--quiet",
        "--no-config",
        "--output",
        `${dir}/probe`,
        `${dir}/probe.ts`,
      ],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const output = await child.output();
    clearTimeout(timer);
    if (output.success) return null;
    const stderr = new TextDecoder().decode(output.stderr);
    if (output.signal === "SIGKILL") {
      return "deno compile did not get its runtime (denort) within 120 s";
    }
    if (/denort|base binary/i.test(stderr)) {
      const cause = stderr.split("\n").find((l) => /^\s+1: /.test(l))?.trim();
      return `deno compile cannot download its runtime (denort) here${
        cause ? ` (${cause.replace(/^1: /, "")})` : ""
      }`;
    }
    return null;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const compileReason = await compileUnavailable();
if (compileReason !== null) {
  console.log(`Distribution: deno task compile test ignored: ${compileReason}`);
}

Deno.test({
  name:
    "Distribution: deno task compile writes one executable per program; copied elsewhere, they chat and load-test",
  ignore: compileReason !== null,
  fn: async () => {
    const built = await denoTask("compile");
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const dir = await copyOut(PROGRAMS.map((p) => outputPath(p, "compile")));
    try {
      await programsWorkTogether((p, args, stdin) =>
        spawnDeno(
          `${dir}/${outputPath(p, "compile").slice(DIST_DIR.length + 1)}`,
          args,
          { stdin, executable: true },
        )
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("Distribution: a worker is the .ts module beside its starter, or in a bundle the code the bundle carries", async () => {
  assert.equal(
    workerUrl("worker", "file:///src/client/loadtest/run.ts").href,
    "file:///src/client/loadtest/worker.ts",
  );
  const global = globalThis as Record<string, unknown>;
  assert.equal(global[BUNDLED_WORKERS], undefined);
  global[BUNDLED_WORKERS] = {
    _test_worker: "self.onmessage = (e) => self.postMessage(e.data + 1);",
  };
  try {
    const url = workerUrl("_test_worker", "file:///opt/dist/hubbub-serve.js");
    assert.equal(url.protocol, "blob:");
    assert.equal(workerUrl("_test_worker", "file:///x.js").href, url.href);
    // A worker not in the bundle is still looked for beside the starter.
    assert.equal(
      workerUrl("other", "file:///opt/dist/hubbub-serve.js").href,
      "file:///opt/dist/other.ts",
    );
    const worker = new Worker(url, { type: "module" });
    try {
      const reply = new Promise((resolve) =>
        worker.onmessage = (e) => resolve(e.data)
      );
      worker.postMessage(41);
      assert.equal(await reply, 42);
    } finally {
      worker.terminate();
    }
  } finally {
    delete global[BUNDLED_WORKERS];
  }
});
