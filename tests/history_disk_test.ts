/**
 * History on a real disk that fails at run time: a server process keeps its
 * database on a small tmpfs of the test's own, which the test fills up or
 * remounts read-only while clients chat, then frees again. The failure is
 * logged once, chat goes on, /metrics counts what was not stored, writing
 * resumes (logged once) and what was said after is in the history.
 *
 * Mounting needs root (or CAP_SYS_ADMIN); where a test mount fails at load
 * time, these tests are skipped with the reason.
 */

import assert from "node:assert/strict";
import { decodeHistoryEnd, decodeHistoryEntry, Tag } from "../protocol/mod.ts";
import { parseMetrics, RawClient, takeUntil, text } from "./_kit.ts";
import { type ServerProcess, startServerProcess } from "./_process.ts";

const WRITE = ["--allow-net", "--allow-read", "--allow-write"];
/** Generous: the retry period is a few seconds, and the machine is shared. */
const WAIT_MS = 60_000;
const FAILED = /History writing failed/;
const RESUMED = /History writing resumed/;

async function run(program: string, args: string[]): Promise<string | null> {
  try {
    const output = await new Deno.Command(program, {
      args,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (output.success) return null;
    const why = new TextDecoder().decode(output.stderr).trim();
    return `${program} ${args.join(" ")}: ${why || `exit ${output.code}`}`;
  } catch (error) {
    return `${program}: ${error instanceof Error ? error.message : error}`;
  }
}

/** Throw unless `program args` succeeds. */
async function must(program: string, args: string[]): Promise<void> {
  const failure = await run(program, args);
  if (failure !== null) throw new Error(failure);
}

/** Why a tmpfs cannot be mounted here (null when it can). */
async function mountProblem(): Promise<string | null> {
  let dir: string;
  try {
    dir = await Deno.makeTempDir({ prefix: "hubbub-mount-probe-" });
  } catch (error) {
    return `no temp dir: ${error instanceof Error ? error.message : error}`;
  }
  try {
    const failure = await run("mount", [
      "-t",
      "tmpfs",
      "-o",
      "size=64k",
      "tmpfs",
      dir,
    ]);
    if (failure !== null) return `cannot mount a tmpfs (${failure})`;
    const remount = await run("mount", ["-o", "remount,ro", dir]);
    const unmount = await run("umount", [dir]);
    return remount ?? unmount;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

const cannotMount = await mountProblem();
const ignore = cannotMount !== null;
if (ignore) console.error(`History disk tests skipped: ${cannotMount}`);
const cannotMountExt4 = cannotMount ?? await ext4Problem();
if (cannotMount === null && cannotMountExt4 !== null) {
  console.error(`History disk read-only test skipped: ${cannotMountExt4}`);
}

/** Why a small ext4 image cannot be loop-mounted here and made to fail. */
async function ext4Problem(): Promise<string | null> {
  try {
    return await withExt4(async (_dir, device) => {
      await must("test", ["-w", `/sys/fs/ext4/${device}/trigger_fs_error`]);
    }).then(() => null);
  } catch (error) {
    return `cannot loop-mount an ext4 image that can be failed (${
      error instanceof Error ? error.message : error
    })`;
  }
}

/**
 * A fresh ext4 image loop-mounted with errors=remount-ro in a new temp dir;
 * `use` gets the folder and the loop device's name, then it is unmounted
 * (which frees the loop device) and the image removed.
 */
async function withExt4(
  use: (dir: string, device: string) => Promise<void>,
): Promise<void> {
  const image = await Deno.makeTempFile({ prefix: "hubbub-ext4-" });
  const dir = await Deno.makeTempDir({ prefix: "hubbub-disk-" });
  try {
    await Deno.truncate(image, 8 * 1024 * 1024);
    await must("mkfs.ext4", ["-q", "-F", image]);
    await must("mount", ["-o", "loop,errors=remount-ro", image, dir]);
    try {
      const source = await findmnt(dir, "SOURCE");
      await use(dir, source.slice(source.lastIndexOf("/") + 1));
    } finally {
      await must("umount", [dir]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(image);
  }
}

async function findmnt(dir: string, column: string): Promise<string> {
  const output = await new Deno.Command("findmnt", {
    args: ["-no", column, dir],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout).trim();
}

function mountOptions(dir: string): Promise<string> {
  return findmnt(dir, "OPTIONS");
}

/** A tmpfs of `sizeKiB` in a new temp dir; `use` runs, then it is unmounted. */
async function withTmpfs(
  sizeKiB: number,
  use: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-disk-" });
  try {
    await must("mount", [
      "-t",
      "tmpfs",
      "-o",
      `size=${sizeKiB}k`,
      "tmpfs",
      dir,
    ]);
    try {
      await use(dir);
    } finally {
      await must("umount", [dir]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Write `path` until the filesystem is full; bounded by `limit` bytes. */
async function fill(path: string, limit: number): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(4096).fill(7);
  let written = 0;
  try {
    while (written < limit) {
      try {
        written += await file.write(block);
      } catch {
        break; // ENOSPC: full
      }
    }
    // Fill the last partial block too.
    for (let size = 2048; size >= 1; size >>= 1) {
      try {
        written += await file.write(block.subarray(0, size));
      } catch { /* no room for this much */ }
    }
  } finally {
    try {
      file.close();
    } catch { /* closing a file on a full disk may report the failure */ }
  }
  return written;
}

async function historyMetrics(port: number): Promise<Map<string, number>> {
  const reply = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parseMetrics(await reply.text());
}

async function metric(port: number, name: string): Promise<number> {
  return (await historyMetrics(port)).get(name) ?? 0;
}

/**
 * Until `name` reaches `atLeast`: call `step` (e.g. chat some more), then
 * look again; fail after {@linkcode WAIT_MS}.
 */
async function untilMetric(
  port: number,
  name: string,
  atLeast: number,
  step: () => Promise<void> = () =>
    new Promise((resolve) => setTimeout(resolve, 50)),
): Promise<number> {
  const started = Date.now();
  for (;;) {
    const value = await metric(port, name);
    if (value >= atLeast) return value;
    if (Date.now() - started > WAIT_MS) {
      throw new Error(`${name} stayed at ${value}, below ${atLeast}`);
    }
    await step();
  }
}

/** Ann says each text; ann gets her echo and bob gets every one. */
async function chat(
  ann: RawClient,
  bob: RawClient,
  texts: string[],
): Promise<void> {
  for (const body of texts) await ann.send(Tag.CHAT, body);
  assert.deepEqual((await ann.chats(texts.length, 10_000)).map(text), texts);
  assert.deepEqual((await bob.chats(texts.length, 10_000)).map(text), texts);
}

/** HISTORY {"last": n}: the texts replied, in id order. */
async function lastTexts(client: RawClient, n: number): Promise<string[]> {
  await client.send(Tag.HISTORY, JSON.stringify({ last: n }));
  const frames = await takeUntil(
    client,
    (frame) => frame.tag === Tag.HISTORY_END,
    10_000,
  );
  const end = decodeHistoryEnd(frames.pop()!.body);
  assert.ok(end !== null, "HISTORY_END decodes");
  const texts: string[] = [];
  for (const frame of frames) {
    if (frame.tag === Tag.HISTORY) {
      assert.ok(decodeHistoryEntry(frame.body) !== null, "HISTORY decodes");
    }
    if (frame.tag === Tag.HISTORY_TEXT) texts.push(text(frame));
  }
  assert.equal(end.count, texts.length);
  return texts;
}

function count(lines: string[], pattern: RegExp): number {
  return lines.filter((line) => pattern.test(line)).length;
}

/**
 * The shared story: chat with history working; `breakDisk`; chat on until
 * /metrics counts messages not stored, and a retry failed too; `mendDisk`
 * (unless null); writing resumes; what is said next is in the history. The
 * failure and the resumption are each logged exactly once.
 */
async function survives(
  dir: string,
  breakDisk: () => Promise<void>,
  mendDisk: (() => Promise<void>) | null,
): Promise<void> {
  const db = `${dir}/history.db`;
  const server: ServerProcess = await startServerProcess(
    ["--history-db", db, "--history-flush-ms", "5", "--http-port", "0"],
    { permissions: WRITE },
  );
  const clients: RawClient[] = [];
  try {
    const http = server.httpPort!;
    const ann = await RawClient.connect(server.port);
    clients.push(ann);
    const bob = await RawClient.connect(server.port);
    clients.push(bob);
    await chat(ann, bob, ["before 1", "before 2"]);
    await untilMetric(http, "hubbub_history_stored_total", 2);

    await breakDisk();
    const body = "x".repeat(400);
    let round = 0;
    const moreChat = async () => {
      await chat(ann, bob, [`${round++} ${body}`]);
      await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await untilMetric(http, "hubbub_history_not_stored_total", 1, moreChat);
    const errors = await metric(http, "hubbub_history_write_errors_total");
    // A retry (a few seconds later) fails too, and is not logged again.
    await untilMetric(
      http,
      "hubbub_history_write_errors_total",
      errors + 1,
      moreChat,
    );
    await chat(ann, bob, ["while broken"]);
    assert.equal(count(server.lines, FAILED), 1, server.lines.join("\n"));
    assert.ok(
      server.lines.find((line) => FAILED.test(line))!.includes(db),
      "the failure names the file",
    );
    assert.equal(count(server.lines, RESUMED), 0, server.lines.join("\n"));

    if (mendDisk === null) return;
    await mendDisk();
    const stored = await metric(http, "hubbub_history_stored_total");
    await untilMetric(
      http,
      "hubbub_history_stored_total",
      stored + 1,
      moreChat,
    );
    await server.process.waitForLine("stderr", RESUMED, WAIT_MS);
    const after = ["after 1", "after 2", "after 3"];
    const storedAfter = await metric(http, "hubbub_history_stored_total");
    await chat(ann, bob, after);
    await untilMetric(http, "hubbub_history_stored_total", storedAfter + 3);
    assert.deepEqual(await lastTexts(bob, 3), after);
    assert.equal(count(server.lines, FAILED), 1, server.lines.join("\n"));
    assert.equal(count(server.lines, RESUMED), 1, server.lines.join("\n"));
  } finally {
    for (const client of clients) await client.close();
    await server.stop();
  }
}

Deno.test({
  name:
    "History disk: a full disk at run time is logged once, chat goes on, /metrics counts what was not stored, and writing resumes when space is freed",
  ignore,
  async fn() {
    await withTmpfs(512, async (dir) => {
      const filler = `${dir}/filler`;
      await survives(
        dir,
        async () => {
          assert.ok(await fill(filler, 1024 * 1024) > 0, "the filler fits");
        },
        () => Deno.remove(filler),
      );
    });
  },
});

Deno.test({
  name:
    "History disk: a disk made read-only at run time (the kernel's emergency read-only after a filesystem error) is logged once, chat goes on, and /metrics counts what was not stored",
  ignore: cannotMountExt4 !== null,
  async fn() {
    await withExt4(async (dir, device) => {
      await survives(
        dir,
        async () => {
          // What ext4 does on an error with errors=remount-ro: read-only at
          // once, open files or not (a plain `mount -o remount,ro` is
          // refused while SQLite holds the database open for writing).
          // (Through sh: Deno lets only --allow-all touch /sys.)
          await must("sh", [
            "-c",
            'echo "hubbub test" > "$0"',
            `/sys/fs/ext4/${device}/trigger_fs_error`,
          ]);
          const options = await mountOptions(dir);
          assert.ok(/(^|,)(ro|emergency_ro)(,|$)/.test(options), options);
        },
        // The kernel allows no way back short of unmounting.
        null,
      );
    });
  },
});
