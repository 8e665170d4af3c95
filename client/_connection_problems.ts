/**
 * One-line explanations, each with its fix, of why the terminal client
 * could not connect or was turned away before the server greeted it.
 */

import { inertText } from "./terminal_text.ts";

/** What the explanation needs to know about the attempt. */
export interface AttemptContext {
  /** `host:port`, for the message. */
  address: string;
  /** The host alone, for certificate name advice. */
  host: string;
  /** The port. */
  port: number;
  /** Whether the client used TLS. */
  tls: boolean;
}

const TLS_FIXES: [pattern: RegExp, explain: (c: AttemptContext) => string][] = [
  [
    /UnknownIssuer/,
    () =>
      "the server's TLS certificate is not signed by anyone this client trusts; pass --ca FILE with the server's certificate (or the CA that signed it)",
  ],
  [
    /CaUsedAsEndEntity/,
    () =>
      "the server's TLS certificate is a CA certificate (basicConstraints CA:TRUE), which TLS refuses as a server's own; make the server a certificate with basicConstraints=critical,CA:FALSE (the README's openssl recipe)",
  ],
  [
    /NotValidForName/,
    (c) =>
      `the server's TLS certificate is not valid for ${c.host}; connect with --host set to a name or address in its subjectAltName, or remake it with subjectAltName for ${c.host}`,
  ],
  [
    /Expired|NotValidYet/,
    () =>
      "the server's TLS certificate has expired or is not valid yet; renew it on the server",
  ],
  [
    /BadSignature|UnsupportedSignatureAlgorithm/,
    () =>
      "the server's TLS certificate does not match the certificate given with --ca; pass the server's own certificate (or its CA) to --ca",
  ],
  [
    /InvalidContentType|corrupt message|close_notify|UnexpectedEof|unexpected end of file|peer is incompatible/i,
    () => "the server does not speak TLS; leave out --tls and --ca",
  ],
];

/**
 * Explain an error from connecting (or from the first write, where a TLS
 * handshake also shows) in one line with its fix.
 *
 * @param error What connecting threw.
 * @param context The attempt.
 * @returns `Cannot connect to ADDRESS: why; what to do`.
 */
export function explainConnectError(
  error: unknown,
  context: AttemptContext,
): string {
  const prefix = `Cannot connect to ${context.address}`;
  if (error instanceof Deno.errors.ConnectionRefused) {
    return `${prefix}: connection refused (is the server running, on this port?)`;
  }
  if (error instanceof Deno.errors.TimedOut) return `${prefix}: timed out`;
  const message = error instanceof Error ? error.message : String(error);
  if (context.tls) {
    for (const [pattern, explain] of TLS_FIXES) {
      if (pattern.test(message)) return `${prefix}: ${explain(context)}`;
    }
  }
  if (!context.tls && looksLikeTls(message)) {
    return `${prefix}: ${TLS_SERVER}`;
  }
  return `${prefix}: ${inertText(message)}`;
}

const TLS_SERVER =
  "the server speaks TLS; add --tls (and --ca FILE if its certificate is self-signed)";

function looksLikeTls(message: string): boolean {
  return /TLS/.test(message);
}

/** What the client saw of a connection that ended before ISSUE_ID. */
export interface EarlyEnd {
  /** A TLS handshake on the same port worked (see {@linkcode speaksTls}). */
  tlsAnswered?: boolean;
  /** It had greeted this client before (a reconnection): no TLS advice. */
  greetedBefore?: boolean;
  /** The reason of an ERROR the server sent, if any. */
  refusal: string | null;
  /** The first byte received, if any (a TLS record starts 0x15 or 0x16). */
  firstByte: number | null;
}

/**
 * Explain a connection that the server ended before issuing an id.
 *
 * @param end What was received.
 * @param context The attempt.
 * @returns One line with the fix.
 */
export function explainEarlyEnd(
  end: EarlyEnd,
  context: AttemptContext,
): string {
  const prefix = `Server at ${context.address} refused the connection`;
  if (end.refusal !== null) {
    const fix = /authentication (required|timed out)/.test(end.refusal)
      ? "; it needs a token: pass --token TOKEN"
      : /authentication failed/.test(end.refusal)
      ? "; the token is wrong: check --token"
      : "";
    return `${prefix}: ${end.refusal}${fix}`;
  }
  const tlsRecord = end.firstByte === 0x15 || end.firstByte === 0x16;
  if (!context.tls && (tlsRecord || end.tlsAnswered)) {
    return `Cannot connect to ${context.address}: ${TLS_SERVER}`;
  }
  return `Server at ${context.address} closed the connection before greeting${
    context.tls || end.greetedBefore ? "" : " (if it speaks TLS, add --tls)"
  }`;
}

/**
 * Whether a server speaks TLS, found by trying a handshake: one that
 * completes, or fails over the certificate, was with a TLS server. Used
 * only to explain a plain connection the server ended without a word.
 *
 * @param hostname The server.
 * @param port Its port.
 * @param timeoutMs How long to try.
 * @returns `true` when the server answered in TLS.
 */
export async function speaksTls(
  hostname: string,
  port: number,
  timeoutMs = 3000,
): Promise<boolean> {
  let conn: Deno.TlsConn | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    conn = await Deno.connectTls({ hostname, port });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
    });
    await Promise.race([conn.handshake(), timeout]);
    return true;
  } catch (error) {
    return /invalid peer certificate/.test(String(error));
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Closed already.
    }
  }
}

/**
 * Whether a refusal is final: reconnecting with the same settings cannot
 * help (the token), unlike `server full`.
 *
 * @param refusal The ERROR reason received before ISSUE_ID.
 * @returns `true` for authentication failures.
 */
export function isFinalRefusal(refusal: string): boolean {
  return /^authentication /.test(refusal);
}
