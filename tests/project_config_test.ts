/**
 * deno.json's own rules: what the load generator and the build write into
 * the checkout does not make `deno task check` fail.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

Deno.test("Project config: HTML reports and JSON results written into the checkout pass deno fmt --check", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-config-" });
  try {
    await Deno.copyFile(new URL("deno.json", ROOT), `${dir}/deno.json`);
    await Deno.writeTextFile(`${dir}/ok.ts`, "export const ok = 1;\n");
    // Not as deno fmt would write HTML, as a report generator does.
    const html = "<!doctype html><html><body><p>report</p>\n</body></html>";
    await Deno.writeTextFile(`${dir}/report.html`, html);
    await Deno.mkdir(`${dir}/runs`);
    await Deno.writeTextFile(`${dir}/runs/run 1.html`, html);
    // What --json writes: JSON.stringify(result, null, 2) and a newline.
    const result = { latency: [0.5, 1, { p99: 2.5 }], lost: 0, none: {} };
    await Deno.writeTextFile(
      `${dir}/result.json`,
      JSON.stringify(result, null, 2) + "\n",
    );
    // Builds go to dist/, which nothing checks.
    await Deno.mkdir(`${dir}/dist`);
    await Deno.writeTextFile(`${dir}/dist/hubbub-serve.js`, "var  x=1");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const decoder = new TextDecoder();
    assert.ok(
      output.success,
      decoder.decode(output.stdout) + decoder.decode(output.stderr),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
