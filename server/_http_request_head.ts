/**
 * The head of an HTTP/1.x request (request line and header fields), parsed
 * strictly enough for a metrics endpoint: anything unusual is a 400.
 *
 * @module
 */

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The request target in origin form (`/path?query`). */
  target: string;
  headers: Headers;
}

const METHOD = /^[A-Z]{1,16}$/;
const TARGET = /^\/[\x21-\x7e]*$/;
const VERSION = /^HTTP\/1\.[01]$/;
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, obs-text, spaces and tabs; no controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Where the head ends: the index just past the first CRLF CRLF, or -1.
 *
 * @param bytes What has been read so far.
 * @param from Where to start looking (bytes before it were searched).
 * @returns The end of the head, or -1 when it has not arrived.
 */
export function headEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from - 3); i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) return i + 4;
  }
  return -1;
}

/**
 * Parse a request head (without its final empty line's CRLF being needed).
 *
 * @param head The bytes of the head, up to and including CRLF CRLF.
 * @returns The head, or `null` when it is malformed.
 */
export function parseRequestHead(head: Uint8Array): RequestHead | null {
  // latin1 keeps every byte as one character, so nothing fails to decode.
  const text = new TextDecoder("latin1").decode(head);
  const lines = text.split("\r\n");
  const [method, target, version, ...rest] = lines[0].split(" ");
  if (
    rest.length > 0 || method === undefined || !METHOD.test(method) ||
    target === undefined || !TARGET.test(target) ||
    version === undefined || !VERSION.test(version)
  ) return null;
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!FIELD_NAME.test(name) || !FIELD_VALUE.test(value)) return null;
    try {
      headers.append(name, value);
    } catch {
      return null;
    }
  }
  return { method, target, headers };
}
