import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));

async function helpFlags(main: string): Promise<string[]> {
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
  const help = new TextDecoder().decode(output.stdout);
  return [...help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)/gm)].map((
    match,
  ) => match[1]);
}

for (
  const [command, main] of [
    ["serve", "server/main.ts"],
    ["client", "client/main.ts"],
    ["loadtest", "client/loadtest/main.ts"],
  ]
) {
  Deno.test(`README: documents every flag of deno task ${command}`, async () => {
    const flags = await helpFlags(main);
    assert.ok(flags.length > 3, `expected flags in ${main} --help`);
    const missing = flags.filter((flag) => !readme.includes(`\`${flag}`));
    assert.deepEqual(missing, [], `README lacks ${missing.join(", ")}`);
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
