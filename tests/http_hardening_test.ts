/**
 * The HTTP endpoint against hostile or careless clients: half-sent requests
 * are closed at the head deadline while real requests are answered, open
 * connections are bounded, `/metrics` and `/stats` need the bearer token when
 * one is set (and one must be set off loopback), `/stats` pages are capped,
 * and malformed or oversized request heads cost only their connection.
 */

import assert from "node:assert/strict";
import {
  type HttpEndpoint,
  type HttpEndpointOptions,
  isLoopbackHost,
  startHttpEndpoint,
} from "../server/http_endpoint.ts";
import { serveHttp } from "../server/http_server.ts";
import type { Server } from "../server/mod.ts";
import { TokenSet } from "../server/token_set.ts";
import { deadline } from "./_deadline.ts";
import { concat, httpGet, parseMetrics, waitUntil } from "./_kit.ts";
import { runDeno, SERVER_MAIN, startServerProcess } from "./_process.ts";
import { withServer } from "./_server.ts";

/** An in-process server with its HTTP endpoint on a free port. */
async function withHttp(
  options: Partial<HttpEndpointOptions>,
  body: (server: Server, http: HttpEndpoint) => Promise<void>,
): Promise<void> {
  await withServer({}, async (server) => {
    const http = startHttpEndpoint(server.hub, {
      hostname: "127.0.0.1",
      port: 0,
      ...options,
    });
    try {
      await body(server, http);
    } finally {
      await http.close();
    }
  });
}

/** A raw HTTP exchange: send `request`, read to the end. */
interface RawReply {
  status: number;
  head: string;
  body: string;
}

async function exchange(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 10_000,
): Promise<RawReply> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = typeof request === "string"
      ? new TextEncoder().encode(request)
      : request;
    let offset = 0;
    while (offset < bytes.length) {
      offset += await conn.write(bytes.subarray(offset));
    }
    return parseReply(await readAll(conn, timeoutMs));
  } finally {
    conn.close();
  }
}

async function readAll(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  await deadline(
    (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const count = await conn.read(buffer);
          if (count === null) break;
          chunks.push(buffer.slice(0, count));
        }
      } catch (error) {
        // A reset after the reply still leaves the reply read.
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      }
    })(),
    timeoutMs,
    "the end of the HTTP reply",
  );
  return new TextDecoder().decode(concat(...chunks));
}

function parseReply(text: string): RawReply {
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
    head,
    body: split < 0 ? "" : text.slice(split + 4),
  };
}

function get(path: string, headers: Record<string, string> = {}): string {
  let request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    request += `${name}: ${value}\r\n`;
  }
  return request + "\r\n";
}

Deno.test("HTTP: connections that have not sent a whole request head in time are closed, and /healthz is answered meanwhile", async () => {
  await withHttp(
    { headerTimeoutMs: 2000, maxConnections: 64 },
    async (_server, http) => {
      const port = http.address.port;
      const HALF_SENT = 30;
      const slow: Deno.Conn[] = [];
      try {
        for (let i = 0; i < HALF_SENT; i++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          slow.push(conn);
          // A request line and one header, never the empty line.
          await conn.write(
            new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n"),
          );
        }
        // Meanwhile a real request is answered (its own deadline starts
        // when it is accepted, and it sends its head at once).
        const healthy = await httpGet(port, "/healthz");
        assert.equal(healthy.status, 200);
        // Each half-sent request is closed: 408, then the end of the stream.
        const replies = await Promise.all(
          slow.map((conn) => readAll(conn, 15_000)),
        );
        for (const reply of replies) {
          assert.match(reply, /^HTTP\/1\.1 408 Request Timeout\r\n/);
        }
        const m = parseMetrics((await httpGet(port, "/metrics")).body);
        assert.equal(m.get("hubbub_http_header_timeouts_total"), HALF_SENT);
      } finally {
        for (const conn of slow) conn.close();
      }
    },
  );
});

Deno.test("HTTP: at most maxConnections are open at once; a request over the bound waits and is served", async () => {
  const MAX = 3;
  await withHttp(
    { maxConnections: MAX, headerTimeoutMs: 60_000 },
    async (_server, http) => {
      const port = http.address.port;
      const idle: Deno.Conn[] = [];
      try {
        for (let i = 0; i < MAX; i++) {
          idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
        }
        await waitUntil(
          () => http.counters.connections === MAX,
          "the idle connections to be accepted",
        );
        // A fourth connection, its request sent, waits in the backlog while
        // the three stay open; once one leaves it is served, and sees MAX
        // connections, not MAX + 1.
        const fourth = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          await fourth.write(new TextEncoder().encode(get("/metrics")));
          assert.equal(http.counters.connections, MAX);
          idle.shift()!.close();
          const reply = parseReply(await readAll(fourth, 15_000));
          assert.equal(reply.status, 200);
          assert.equal(
            parseMetrics(reply.body).get("hubbub_http_connections"),
            MAX,
          );
        } finally {
          fourth.close();
        }
      } finally {
        for (const conn of idle) conn.close();
      }
    },
  );
});

Deno.test("HTTP: with tokens, /metrics and /stats need Authorization: Bearer and one of them; /healthz does not", async () => {
  const tokens = TokenSet.parse("# scrapers\nfirst-secret\nsecond-secret\n");
  await withHttp({ tokens }, async (_server, http) => {
    const port = http.address.port;
    for (const path of ["/metrics", "/stats"]) {
      for (
        const headers of [
          {} as Record<string, string>,
          { Authorization: "Bearer wrong" },
          { Authorization: "Basic Zmlyc3Qtc2VjcmV0" },
          { Authorization: "Bearer first-secret extra" },
          { Authorization: "Bearer first-secre" },
        ]
      ) {
        const reply = await exchange(port, get(path, headers));
        assert.equal(reply.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.match(reply.head, /\r\nwww-authenticate: Bearer realm="hubbub"/);
        assert.doesNotMatch(reply.body, /hubbub_|connections/);
      }
      for (const token of ["first-secret", "second-secret"]) {
        const reply = await exchange(
          port,
          get(path, { Authorization: `bearer ${token}` }),
        );
        assert.equal(reply.status, 200, `${path} with ${token}`);
      }
    }
    assert.equal((await exchange(port, get("/healthz"))).status, 200);
  });
});

Deno.test("HTTP: /stats refuses a limit over 1024 and numbers not written in digits, with 400", async () => {
  await withHttp({}, async (_server, http) => {
    const port = http.address.port;
    for (
      const query of [
        "?limit=1e9",
        "?limit=1025",
        "?limit=99999999999999999999",
        "?offset=1e3",
        "?limit=0x10",
        "?limit=%2010",
      ]
    ) {
      const reply = await httpGet(port, `/stats${query}`);
      assert.equal(reply.status, 400, query);
      assert.match(JSON.parse(reply.body).error, /at most 1024/);
    }
    const full = await httpGet(port, "/stats?limit=1024");
    assert.equal(full.status, 200);
    assert.equal(JSON.parse(full.body).limit, 1024);
    assert.equal(JSON.parse((await httpGet(port, "/stats")).body).limit, 1024);
  });
});

Deno.test("HTTP: a malformed request gets 400 and an oversized head 431, each costing only its connection", async () => {
  await withHttp({}, async (_server, http) => {
    const port = http.address.port;
    for (
      const bad of [
        "GET /healthz\r\n\r\n",
        "GET healthz HTTP/1.1\r\n\r\n",
        "GET /healthz HTTP/2.0\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        "\r\n\r\n",
      ]
    ) {
      assert.equal(
        (await exchange(port, bad)).status,
        400,
        JSON.stringify(bad),
      );
    }
    const huge = get("/healthz", { "X-Padding": "x".repeat(9000) });
    assert.equal((await exchange(port, huge)).status, 431);
    // A body sent along is not read, yet the reply arrives whole.
    const post = await exchange(
      port,
      "POST /metrics HTTP/1.1\r\nContent-Length: 20000\r\n\r\n" +
        "y".repeat(20000),
    );
    assert.equal(post.status, 405);
    assert.match(post.head, /\r\nallow: GET, HEAD/);
    const head = await exchange(port, "HEAD /healthz HTTP/1.1\r\n\r\n");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.match(head.head, /\r\ncontent-length: 3\r\n/);
    assert.equal((await httpGet(port, "/healthz")).body, "ok\n");
  });
});

Deno.test("HTTP: loopback addresses are told apart from the rest", () => {
  for (
    const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]
  ) assert.ok(isLoopbackHost(host), host);
  for (
    const host of ["0.0.0.0", "::", "10.0.0.1", "example.com", "128.0.0.1"]
  ) assert.ok(!isLoopbackHost(host), host);
});

Deno.test("HTTP flags: an --http-host off loopback needs --http-token-file (one line, exit 2); with one, /metrics needs the token", async () => {
  const refused = await runDeno(SERVER_MAIN, [
    "--port",
    "0",
    "--http-port",
    "0",
    "--http-host",
    "0.0.0.0",
  ]);
  assert.equal(refused.code, 2);
  assert.equal(refused.stderr.length, 1, refused.stderr.join("\n"));
  assert.match(
    refused.stderr[0],
    /^hubbub serve: --http-host 0\.0\.0\.0 is not loopback: give --http-token-file/,
  );
  const missing = await runDeno(SERVER_MAIN, [
    "--port",
    "0",
    "--http-port",
    "0",
    "--http-token-file",
    "/nonexistent/tokens",
  ]);
  assert.equal(missing.code, 1);
  assert.deepEqual(missing.stderr, [
    "hubbub serve: HTTP token file /nonexistent/tokens does not exist",
  ]);

  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "scrape-secret\n");
  const server = await startServerProcess([
    "--http-port",
    "0",
    "--http-host",
    "0.0.0.0",
    "--http-token-file",
    file,
  ]);
  try {
    const port = server.httpPort!;
    assert.equal((await exchange(port, get("/metrics"))).status, 401);
    const reply = await exchange(
      port,
      get("/metrics", { Authorization: "Bearer scrape-secret" }),
    );
    assert.equal(reply.status, 200);
    assert.match(reply.body, /^# HELP /m);
    assert.equal((await exchange(port, get("/healthz"))).status, 200);
  } finally {
    await server.stop();
    await Deno.remove(file);
  }
});

Deno.test("HTTP server: a client that does not read its response is cut off at the response deadline", async () => {
  // A body far larger than the socket buffers, so the write must wait.
  const big = new Uint8Array(64 * 1024 * 1024);
  const server = serveHttp(
    { hostname: "127.0.0.1", port: 0, responseTimeoutMs: 500 },
    () => new Response(big),
  );
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.address.port,
  });
  try {
    await conn.write(new TextEncoder().encode(get("/big")));
    await waitUntil(() => server.counters.requests === 1, "the request");
    // Never read: the server gives up on the write and closes.
    await waitUntil(
      () => server.counters.connections === 0,
      "the stalled response to be cut off",
      15_000,
    );
  } finally {
    conn.close();
    await server.close();
  }
});
