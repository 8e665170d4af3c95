/**
 * Split a byte stream into text lines (without their `\n` or `\r\n`).
 *
 * @param readable The stream, for example `Deno.stdin.readable`.
 * @returns The lines; a last line without a newline is included.
 */
export async function* readLines(
  readable: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let pending = "";
  for await (const text of readable.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      yield pending.slice(0, newline).replace(/\r$/, "");
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
  }
  if (pending.length > 0) yield pending;
}
