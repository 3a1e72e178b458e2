// The live output of a container whose FIFOs berth-cri reads (any shim but Berth's, and
// every container without a log path): each chunk read from a FIFO goes to the log and to
// whoever is attached, as the process wrote it (a terminal's raw bytes included). Nobody
// attached costs nothing; a subscriber that cannot keep up loses chunks rather than
// holding up the container, which must never wait for a client.

import type { Readable } from "node:stream";
import type { StreamName } from "./cri-log.js";

export type OutputListener = (stream: StreamName, chunk: Buffer) => void;

export class OutputFanOut {
  readonly #listeners = new Set<OutputListener>();

  /** Delivers every chunk of `source` from now on; a no-op for no source. */
  tap(source: Readable | undefined, stream: StreamName): void {
    source?.on("data", (chunk: Buffer) => {
      for (const l of this.#listeners) l(stream, chunk);
    });
  }

  /** Calls `listener` for each chunk from now on; the result unsubscribes. */
  subscribe(listener: OutputListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get subscribers(): number {
    return this.#listeners.size;
  }
}
