import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));

async function helpText(main: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      new URL(main, root).pathname,
      "--help",
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(output.code, 0);
  return new TextDecoder().decode(output.stdout);
}

/** Each flag of a --help text, with the rest of its line. */
function helpLines(help: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (
    const match of help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)(.*)$/gm)
  ) {
    lines.set(match[1], match[2]);
  }
  return lines;
}

/**
 * The flags in the first column of the flag table of README's section on
 * `deno task COMMAND` (up to the next `## ` heading).
 */
function tableRows(command: string): Map<string, string> {
  const heading = readme.search(
    new RegExp(`^## .*\`deno task ${command}\``, "m"),
  );
  assert.ok(heading >= 0, `README has no section on deno task ${command}`);
  const rest = readme.slice(heading + 3);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const rows = new Map<string, string>();
  for (const row of section.matchAll(/^\|([^|]*)\|(.*)$/gm)) {
    for (const flag of row[1].matchAll(/`(--[a-z][a-z0-9-]*)/g)) {
      rows.set(flag[1], row[2]);
    }
  }
  return rows;
}

/** The frame tags and TLS a text names: what a flag's rule is about. */
function subjects(text: string): string[] {
  const words =
    /\b(ISSUE_ID|CHAT|CLOSE|ERROR|PING|PONG|JOIN|NICK|PRESENCE|ROOMS|WHO|AUTH|TLS)\b/g;
  return [...new Set([...text.matchAll(words)].map((m) => m[1]))].toSorted();
}

for (
  const [command, main] of [
    ["serve", "server/main.ts"],
    ["client", "client/main.ts"],
    ["loadtest", "client/loadtest/main.ts"],
  ]
) {
  Deno.test(`README: the flag table of deno task ${command} and its --help list the same flags`, async () => {
    const help = [...helpLines(await helpText(main)).keys()];
    assert.ok(help.length > 3, `expected flags in ${main} --help`);
    const table = [...tableRows(command).keys()];
    const notInTable = help.filter((flag) => !table.includes(flag));
    assert.deepEqual(
      notInTable,
      [],
      `in ${main} --help, not in README's table: ${notInTable.join(", ")}`,
    );
    const notInHelp = table.filter((flag) => !help.includes(flag));
    assert.deepEqual(
      notInHelp,
      [],
      `in README's table, not in ${main} --help: ${notInHelp.join(", ")}`,
    );
  });

  Deno.test(`README: each flag of deno task ${command} names the same frames (and TLS) in its table row as in --help`, async () => {
    const help = helpLines(await helpText(main));
    const rows = tableRows(command);
    const disagreements: string[] = [];
    for (const [flag, line] of help) {
      const row = rows.get(flag);
      if (row === undefined) continue;
      const inHelp = subjects(line);
      const inReadme = subjects(row);
      if (inHelp.join() !== inReadme.join()) {
        disagreements.push(
          `${flag}: --help names [${inHelp}], README [${inReadme}]`,
        );
      }
    }
    assert.deepEqual(disagreements, []);
  });
}

Deno.test("README: every task in deno.json is documented", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const missing = Object.keys(config.tasks).filter((task) =>
    !readme.includes(`deno task ${task}`)
  );
  assert.deepEqual(missing, []);
});
