/**
 * `deno task bundle` and `deno task compile`: build every program of
 * `build/programs.ts` into `dist/`, as one self-contained JavaScript file
 * each (its workers inside) or as one executable each, with that program's
 * own permissions.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import { BUNDLED_WORKERS } from "../cli/worker_url.ts";
import {
  DIST_DIR,
  outputPath,
  type Program,
  PROGRAMS,
  workerName,
} from "./programs.ts";

const ROOT = new URL("../", import.meta.url);

const command = defineCommand({
  usage: "deno task bundle | deno task compile",
  name: "hubbub build",
  summary: `Build hubbub's programs (${
    PROGRAMS.map((p) => p.name).join(", ")
  }) into ${DIST_DIR}/.`,
  options: {
    kind: {
      type: "string",
      default: "bundle",
      choices: ["bundle", "compile"],
      valueName: "KIND",
      description:
        "bundle: one JavaScript file per program; compile: one executable per program",
    },
  },
});

/** Why `deno compile` failed, when it is the one-time runtime download. */
function runtimeDownloadFailure(stderr: string): boolean {
  return /denort|base binary/i.test(stderr);
}

/** Run `deno ARGS` in the repository root; its stderr is passed through. */
async function deno(args: string[], what: string): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  await Deno.stderr.write(output.stderr);
  if (output.success) return;
  if (args[0] === "compile" && runtimeDownloadFailure(stderr)) {
    throw new StartupError(
      `deno compile could not get its runtime (denort), which it downloads once per Deno version: build where that download works, or point DENORT_BIN at a denort binary of Deno ${Deno.version.deno}`,
    );
  }
  throw new StartupError(`${what} failed (see above)`);
}

/** The first line of a bundle: run it with the program's permissions. */
function shebang(program: Program): string {
  const flags = [...program.permissions, ...program.runtimeFlags];
  return `#!/usr/bin/env -S deno run ${flags.join(" ")}\n`;
}

/** Bundle `entry` into `out` (from the repository root). */
async function denoBundle(entry: string, out: string): Promise<void> {
  await deno(
    ["bundle", "--quiet", "--platform", "deno", "--output", out, entry],
    `deno bundle ${entry}`,
  );
}

/**
 * One file: the shebang; the program's workers, each bundled on its own,
 * as code in the global that `workerUrl` starts them from; the program.
 */
async function bundle(program: Program): Promise<string[]> {
  const workers: Record<string, string> = {};
  // The task may write only to dist/.
  const scratch = `${DIST_DIR}/.workers-${program.name}`;
  try {
    for (const worker of program.workers) {
      const out = `${scratch}/${workerName(worker)}.js`;
      await denoBundle(worker, out);
      workers[workerName(worker)] = await Deno.readTextFile(new URL(out, ROOT));
    }
  } finally {
    await Deno.remove(new URL(scratch, ROOT), { recursive: true }).catch(
      () => {},
    );
  }
  const out = outputPath(program, "bundle");
  await denoBundle(program.entry, out);
  const path = new URL(out, ROOT);
  const code = await Deno.readTextFile(path);
  // One line, before the program's code runs (imports of Deno's built-ins
  // are hoisted, but read nothing of it).
  const prelude = `globalThis.${BUNDLED_WORKERS} = ${
    JSON.stringify(workers)
  };\n`;
  await Deno.writeTextFile(path, shebang(program) + prelude + code);
  if (Deno.build.os !== "windows") await Deno.chmod(path, 0o755);
  return [out];
}

async function compile(program: Program): Promise<string[]> {
  const out = outputPath(program, "compile");
  await deno(
    [
      "compile",
      "--quiet",
      ...program.permissions,
      ...program.runtimeFlags,
      ...program.workers.flatMap((worker) => ["--include", worker]),
      "--output",
      out,
      program.entry,
    ],
    `deno compile ${program.entry}`,
  );
  return [out];
}

await runCommand(command, Deno.args, async (options) => {
  await Deno.mkdir(new URL(`${DIST_DIR}/`, ROOT), { recursive: true });
  const build = options.kind === "compile" ? compile : bundle;
  for (const program of PROGRAMS) {
    for (const file of await build(program)) console.log(file);
  }
});
