/**
 * A few file descriptors held in reserve (open on `/dev/null`) so that a
 * server that has run out of descriptors can still accept one connection to
 * tell it "server full" before closing it, instead of leaving it hanging in
 * the backlog. The classic trick of nginx and libev.
 */
export class FileReserve {
  #files: Deno.FsFile[] = [];
  #size: number;

  /** @param size How many descriptors to hold. */
  constructor(size: number) {
    this.#size = size;
    this.restore();
  }

  /** True when every descriptor of the reserve is held. */
  get full(): boolean {
    return this.#files.length === this.#size;
  }

  /** Number of descriptors held now. */
  get held(): number {
    return this.#files.length;
  }

  /**
   * Give one descriptor back to the process.
   *
   * @returns `false` when none is held.
   */
  release(): boolean {
    const file = this.#files.pop();
    if (file === undefined) return false;
    file.close();
    return true;
  }

  /** Take descriptors again until the reserve is full (as far as possible). */
  restore(): void {
    while (this.#files.length < this.#size) {
      try {
        this.#files.push(Deno.openSync("/dev/null", { read: true }));
      } catch {
        return;
      }
    }
  }

  /** Close every held descriptor. */
  close(): void {
    while (this.release()) {
      // Keep releasing.
    }
  }
}
