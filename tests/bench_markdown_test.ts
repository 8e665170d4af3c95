import assert from "node:assert/strict";
import { renderMarkdown } from "../bench/markdown.ts";
import type { BenchResults } from "../bench/results.ts";

/** The committed results (written before the WebSocket rows existed). */
function committedResults(): BenchResults {
  return JSON.parse(
    Deno.readTextFileSync(new URL("../bench/results.json", import.meta.url)),
  );
}

Deno.test("Bench Markdown: the WebSocket section shows TCP and WebSocket side by side, with the ratios", () => {
  const results = committedResults();
  const closed = results.rows.find((row) => row.id === "closed-100")!.hubbub!;
  const open = results.rows.find((row) => row.id === "open-100")!.hubbub!;
  results.webSocket = {
    clients: 100,
    publishers: 10,
    window: 64,
    rate: 2000,
    closed: {
      tcp: closed,
      ws: { ...closed, deliveriesPerSecond: closed.deliveriesPerSecond / 2 },
    },
    open: {
      tcp: open,
      ws: {
        ...open,
        latencyMs: { ...open.latencyMs, p99: open.latencyMs.p99 * 2 },
        p99Runs: [1, 2, 3],
      },
    },
  };
  const markdown = renderMarkdown(results);
  assert.match(markdown, /## WebSocket and TCP/);
  assert.match(markdown, /\n\| TCP \| [^|]+M \| /);
  assert.match(markdown, /\n\| WebSocket \| [^|]+M \| [^|]+ \| 1, 2, 3 \| /);
  assert.match(
    markdown,
    /WebSocket ÷ TCP: closed-loop deliveries\/s 0\.50×, open-loop p99 2\.00×/,
  );
});

Deno.test("Bench Markdown: results without WebSocket rows (older runs, --only other parts) render without the section", () => {
  const results = committedResults();
  delete results.webSocket;
  assert.doesNotMatch(renderMarkdown(results), /WebSocket and TCP/);
  results.webSocket = null;
  assert.doesNotMatch(renderMarkdown(results), /WebSocket and TCP/);
});

Deno.test("Bench Markdown: the cluster section shows one node without and with Redis and three nodes, with the ratios", () => {
  const results = committedResults();
  const closed = results.rows.find((row) => row.id === "closed-100")!.hubbub!;
  const open = results.rows.find((row) => row.id === "open-100")!.hubbub!;
  results.cluster = {
    nodes: 3,
    clients: 100,
    publishers: 10,
    window: 64,
    rate: 2000,
    closed: {
      alone: closed,
      one: closed,
      three: {
        ...closed,
        deliveriesPerSecond: closed.deliveriesPerSecond / 4,
      },
    },
    open: {
      alone: open,
      one: null,
      three: {
        ...open,
        latencyMs: { ...open.latencyMs, p99: open.latencyMs.p99 * 3 },
      },
    },
  };
  const markdown = renderMarkdown(results);
  assert.match(markdown, /## One node and three nodes/);
  assert.match(markdown, /\n\| One, no Redis \| [^|]+M \| /);
  assert.match(markdown, /\n\| One on Redis \| [^|]+M \| – \| /);
  assert.match(markdown, /\n\| 3 on Redis \| [^|]+M \| /);
  assert.match(
    markdown,
    /3 nodes ÷ one node without Redis: closed-loop deliveries\/s 0\.25×, open-loop p99 3\.00×/,
  );
  delete results.cluster;
  assert.doesNotMatch(renderMarkdown(results), /One node and three nodes/);
});
