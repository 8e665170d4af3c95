/**
 * TLS mistakes with the terminal client, each one line on stderr that says
 * what to do, exit 1, no stack trace: a plain client on a TLS port, `--tls`
 * (with or without `--token`) against a plain server, a certificate nobody
 * trusts, and a CA certificate used as the server's own.
 */

import assert from "node:assert/strict";
import { withServer } from "./_server.ts";
import { makeCertificate, type TestCertificate } from "./_tls.ts";
import { assertNoStackTrace, withClient } from "./_terminal_client.ts";

/** Run the client with `args` to the end; its one stderr line. */
async function oneLineFailure(port: number, args: string[]): Promise<string> {
  let line = "";
  await withClient(port, async (client) => {
    const status = await client.finish(20_000);
    assert.equal(status.code, 1, client.transcript());
    const lines = client.stderr.filter((l) => l.trim() !== "");
    assert.equal(lines.length, 1, client.transcript());
    assert.deepEqual(client.stdout.filter((l) => l.trim() !== ""), []);
    assertNoStackTrace(client);
    line = lines[0];
    assert.match(line, new RegExp(`127\\.0\\.0\\.1:${port}`));
  }, args);
  return line;
}

async function withTlsServer(
  certificate: TestCertificate,
  body: (port: number) => Promise<void>,
): Promise<void> {
  try {
    await withServer(
      { tls: { cert: certificate.cert, key: certificate.key } },
      (server) => body(server.address.port),
    );
  } finally {
    await certificate.remove();
  }
}

Deno.test("Terminal client TLS: a plain client on a TLS port is told to add --tls", async () => {
  await withTlsServer(await makeCertificate(), async (port) => {
    const line = await oneLineFailure(port, []);
    assert.match(line, /speaks TLS; add --tls/);
  });
});

Deno.test("Terminal client TLS: --tls against a plain server is told to leave it out", async () => {
  await withServer({}, async (server) => {
    const line = await oneLineFailure(server.address.port, ["--tls"]);
    assert.match(line, /does not speak TLS; leave out --tls/);
  });
});

Deno.test("Terminal client TLS: --tls --token against a plain server: the same one line, no stack trace", async () => {
  await withServer({}, async (server) => {
    const line = await oneLineFailure(server.address.port, [
      "--tls",
      "--token",
      "secret",
    ]);
    assert.match(line, /does not speak TLS; leave out --tls/);
  });
});

Deno.test("Terminal client TLS: an untrusted certificate is told to pass --ca", async () => {
  await withTlsServer(await makeCertificate(), async (port) => {
    const line = await oneLineFailure(port, ["--tls"]);
    assert.match(
      line,
      /certificate is not signed by anyone .*trusts; pass --ca FILE/,
    );
  });
});

Deno.test("Terminal client TLS: a CA certificate as the server's own is explained, with the CA:FALSE fix", async () => {
  const certificate = await makeCertificate({ ca: true });
  const caFile = certificate.certFile;
  await withTlsServer(certificate, async (port) => {
    const line = await oneLineFailure(port, ["--ca", caFile]);
    assert.match(line, /is a CA certificate/);
    assert.match(line, /CA:FALSE/);
  });
});
