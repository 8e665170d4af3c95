/**
 * The chat page's served files (web/files.ts) and their transpilation
 * (web/transpile.ts): every module the page imports is served, as
 * JavaScript the browser can run.
 */

import assert from "node:assert/strict";
import { PAGE_PREFIX, WEB_FILES } from "../web/files.ts";
import { loadWebFiles, transpileModule } from "../web/transpile.ts";

const decoder = new TextDecoder();
const IMPORT =
  /\b(?:import|export)\b[^"']*?\bfrom\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']/g;

function specifiers(code: string): string[] {
  return [...code.matchAll(IMPORT)].map((match) => match[1] ?? match[2]);
}

Deno.test("Web transpile: types, interfaces and type-only imports are stripped, the rest kept", () => {
  const js = transpileModule(
    [
      'import type { Frame } from "./frame.ts";',
      'import { Tag, type TagValue } from "./constants.ts";',
      "export interface Shape { tag: TagValue }",
      "export class Box { #n: number = 1; constructor(readonly f: Frame | null) {} }",
      "export const chat: number = Tag.CHAT as number;",
    ].join("\n"),
    "example.ts",
  );
  assert.doesNotMatch(js, /interface|TagValue|Frame\b|: number|as number/);
  assert.deepEqual(specifiers(js), ["./constants.ts"]);
  assert.match(js, /export const chat = Tag\.CHAT/);
  assert.match(js, /#n = 1/);
});

Deno.test("Web transpile: a module without imports runs as JavaScript", async () => {
  const files = await loadWebFiles();
  const constants = files.get(`${PAGE_PREFIX}protocol/constants.ts`);
  assert.ok(constants);
  const url = `data:text/javascript;base64,${
    btoa(String.fromCharCode(...constants.body))
  }`;
  const module = await import(url);
  assert.equal(module.Tag.CHAT, 1);
  assert.equal(module.MAX_BODY_SIZE, 488);
});

Deno.test("Web files: every import of every served module is served, and every served module is reached from the page", async () => {
  const files = await loadWebFiles();
  assert.deepEqual(
    [...files.keys()].sort(),
    WEB_FILES.map((f) => f.url).sort(),
  );
  const origin = "http://page.invalid";
  const html = decoder.decode(files.get("/")!.body);
  const entry = /<script type="module" src="([^"]+)"/.exec(html)?.[1];
  const stylesheet = /<link rel="stylesheet" href="([^"]+)"/.exec(html)?.[1];
  assert.ok(entry && stylesheet);
  assert.equal(files.get(stylesheet)?.contentType, "text/css; charset=utf-8");
  const reached = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (reached.has(path)) continue;
    reached.add(path);
    const file = files.get(path);
    assert.ok(file, `${path} is imported but not served`);
    assert.equal(file.contentType, "text/javascript; charset=utf-8");
    for (const specifier of specifiers(decoder.decode(file.body))) {
      assert.match(specifier, /^\.\.?\//, `${path} imports ${specifier}`);
      pending.push(new URL(specifier, origin + path).pathname);
    }
  }
  const modules = WEB_FILES.filter((f) => f.transpile).map((f) => f.url);
  assert.deepEqual([...reached].sort(), modules.sort());
});

Deno.test("Web files: the page's modules use no Deno API", async () => {
  const files = await loadWebFiles();
  for (const file of WEB_FILES.filter((f) => f.transpile)) {
    const code = decoder.decode(files.get(file.url)!.body);
    assert.doesNotMatch(code, /\bDeno\./, `${file.source} uses Deno`);
  }
});
