/**
 * `deno task bundle` and `deno task compile`: build every program of
 * `build/programs.ts` into `dist/`, as one JavaScript file each (with its
 * workers beside it) or as one executable each, with that program's own
 * permissions.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import {
  DIST_DIR,
  outputPath,
  type Program,
  PROGRAMS,
  workerBundlePath,
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

const SHEBANG = (program: Program) =>
  `#!/usr/bin/env -S deno run ${
    [...program.permissions, ...program.runtimeFlags].join(" ")
  }\n`;

async function bundle(program: Program): Promise<string[]> {
  const out = outputPath(program, "bundle");
  await deno(
    ["bundle", "--quiet", "--platform", "deno", "--output", out, program.entry],
    `deno bundle ${program.entry}`,
  );
  // A shebang with the program's permissions makes the file runnable as is.
  const path = new URL(out, ROOT);
  const code = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, SHEBANG(program) + code);
  if (Deno.build.os !== "windows") await Deno.chmod(path, 0o755);
  const written = [out];
  for (const worker of program.workers) {
    const workerOut = workerBundlePath(worker);
    await deno(
      [
        "bundle",
        "--quiet",
        "--platform",
        "deno",
        "--output",
        workerOut,
        worker,
      ],
      `deno bundle ${worker}`,
    );
    written.push(workerOut);
  }
  return written;
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

/** Worker bundles share dist/: two workers of one name would collide. */
function assertDistinctWorkerNames(): void {
  const seen = new Map<string, string>();
  for (const worker of PROGRAMS.flatMap((p) => p.workers)) {
    const out = workerBundlePath(worker);
    const other = seen.get(out);
    if (other !== undefined && other !== worker) {
      throw new StartupError(`${worker} and ${other} would both be ${out}`);
    }
    seen.set(out, worker);
  }
}

await runCommand(command, Deno.args, async (options) => {
  assertDistinctWorkerNames();
  await Deno.mkdir(new URL(`${DIST_DIR}/`, ROOT), { recursive: true });
  const build = options.kind === "compile" ? compile : bundle;
  for (const program of PROGRAMS) {
    for (const file of await build(program)) console.log(file);
  }
});
