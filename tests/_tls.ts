/**
 * A throwaway TLS certificate for tests, made with openssl at test time in a
 * temporary directory (no key is ever committed).
 */

/** A self-signed certificate for 127.0.0.1 and its key. */
export interface TestCertificate {
  /** The directory holding the files. */
  dir: string;
  /** PEM certificate file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /** The certificate, PEM text. */
  cert: string;
  /** The private key, PEM text. */
  key: string;
  /** Delete the directory. */
  remove(): Promise<void>;
}

/**
 * Make an EC P-256 certificate for `IP:127.0.0.1`, valid one day. rustls
 * wants `basicConstraints=CA:FALSE` and the IP subject alternative name;
 * `{ ca: true }` makes the mistake instead (a CA certificate as a server's).
 */
export async function makeCertificate(
  options: { ca?: boolean } = {},
): Promise<TestCertificate> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-tls-" });
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const result = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      `basicConstraints=critical,CA:${options.ca ? "TRUE" : "FALSE"}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `openssl failed: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
  return {
    dir,
    certFile,
    keyFile,
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}
