// The daemon's content store seen from the client: blob info and labels, whole-blob
// reads, and resumable, digest-checked writes through the Content.Write stream.

import {
  type Info,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from "@berth/api/containerd/services/content/v1/content";
import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { Connection } from "./connection.js";
import { BerthError, errorKind, errorMessage, isAlreadyExists, isNotFound } from "./errdefs.js";
import { sha256Digest } from "./identity.js";

/** Largest WRITE message: containerd's server accepts 16 MiB messages, 1 MiB keeps memory flat. */
export const WRITE_CHUNK_BYTES = 1 << 20;

/** A blob's bytes from some offset, e.g. a registry response. */
export interface BlobStream {
  /** Where `body` starts: the offset asked for, or 0 when the source cannot seek. */
  offset: number;
  body: AsyncIterable<Uint8Array>;
}

export interface BlobSource {
  open(offset: number, signal?: AbortSignal): Promise<BlobStream>;
}

/** A source over bytes already in memory. */
export function bytesSource(data: Uint8Array): BlobSource {
  return {
    open: async (offset) => ({
      offset,
      body: (async function* () {
        for (let i = offset; i < data.length; i += WRITE_CHUNK_BYTES)
          yield data.subarray(i, i + WRITE_CHUNK_BYTES);
      })(),
    }),
  };
}

/** Info of a blob, or undefined when the store does not have it. */
export async function contentInfo(
  conn: Connection,
  digest: string,
  signal?: AbortSignal,
): Promise<Info | undefined> {
  try {
    const res = await conn.content.info({ digest }, opt(signal));
    return res.info;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Sets (or, with an empty value, removes) labels on a blob, leaving its other labels alone. */
export async function updateContentLabels(
  conn: Connection,
  digest: string,
  labels: Record<string, string>,
  signal?: AbortSignal,
): Promise<Info | undefined> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return undefined;
  const res = await conn.content.update(
    { info: { digest, labels }, updateMask: keys.map((k) => `labels.${k}`) },
    opt(signal),
  );
  return res.info;
}

/** Reads a whole blob (meant for manifests and configs) and checks its digest. */
export async function readBlob(conn: Connection, digest: string, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const res of conn.content.read({ digest, offset: 0, size: 0 }, opt(signal)))
    chunks.push(res.data);
  const data = Buffer.concat(chunks);
  const actual = sha256Digest(data);
  if (actual !== digest) {
    throw new BerthError(
      "DataLoss",
      `content ${digest} read back with digest ${actual}: the content store is corrupt`,
    );
  }
  return data;
}

export interface WriteBlobOptions {
  /** Ingest ref: writers of the same ref share (and wait for) one ingest. */
  ref: string;
  /** Labels set on commit. */
  labels?: Record<string, string>;
  signal?: AbortSignal;
  /** Another writer holds the ref: this one waits. */
  onWaiting?(): void;
  /** Bytes stored so far (the first call gives the offset an interrupted write resumes from). */
  onProgress?(offset: number): void;
  /** How often a source whose body breaks is reopened at the stored offset (default 3). */
  reopenAttempts?: number;
}

export type WriteResult = "written" | "exists";

/**
 * Writes a blob into the content store the way containerd's clients do: STAT the ingest
 * ref to learn how much an earlier attempt stored, fetch only the rest, WRITE it in
 * chunks at their offsets and COMMIT with the expected size and digest (the store
 * verifies both). Returns "exists" when the store already has the blob (nothing is
 * fetched then).
 */
export async function writeBlob(
  conn: Connection,
  desc: Pick<Descriptor, "digest" | "size">,
  source: BlobSource,
  options: WriteBlobOptions,
): Promise<WriteResult> {
  const { signal } = options;
  let backoff = 16;
  for (;;) {
    const session = new WriteSession(conn, signal);
    try {
      let status: WriteContentResponse;
      try {
        status = await session.send({
          action: WriteAction.STAT,
          ref: options.ref,
          total: desc.size,
          expected: desc.digest,
        });
      } catch (err) {
        if (isAlreadyExists(err)) return "exists";
        // The ref is locked by another writer (a concurrent pull): wait for it, then see.
        if (errorKind(err) === "Unavailable" && /lock/i.test(errorMessage(err))) {
          options.onWaiting?.();
          await session.close();
          await sleep(backoff * (0.5 + Math.random()), signal);
          backoff = Math.min(backoff * 2, 2048);
          continue;
        }
        throw err;
      }
      let offset = status.offset > desc.size ? 0 : status.offset;
      options.onProgress?.(offset);
      offset = await copy(session, desc, source, offset, options);
      try {
        await session.send({
          action: WriteAction.COMMIT,
          offset,
          total: desc.size,
          expected: desc.digest,
          labels: options.labels ?? {},
        });
      } catch (err) {
        if (isAlreadyExists(err)) return "exists";
        if (errorKind(err) === "FailedPrecondition") {
          throw new BerthError(
            "DataLoss",
            `${desc.digest} did not verify when stored (${errorMessage(err)}): the registry served corrupt content; retry the pull`,
            { cause: err },
          );
        }
        throw err;
      }
      return "written";
    } finally {
      await session.close();
    }
  }
}

/** Streams the source into the session from `offset`; returns the final offset. */
async function copy(
  session: WriteSession,
  desc: Pick<Descriptor, "digest" | "size">,
  source: BlobSource,
  offset: number,
  options: WriteBlobOptions,
): Promise<number> {
  const { signal } = options;
  let reopenLeft = options.reopenAttempts ?? 3;
  while (offset < desc.size) {
    const stream = await source.open(offset, signal);
    // A source that cannot seek starts over: a WRITE at offset 0 truncates the ingest.
    offset = stream.offset;
    const chunks = rechunk(stream.body, WRITE_CHUNK_BYTES)[Symbol.asyncIterator]();
    let broken: unknown;
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (err) {
        if (signal?.aborted) throw err;
        broken = err;
        break;
      }
      if (next.done) break;
      const data = next.value;
      if (offset + data.length > desc.size) {
        await chunks.return?.(undefined);
        throw new BerthError(
          "DataLoss",
          `${desc.digest} is longer than the ${desc.size} bytes its descriptor says: the registry serves other content under this digest`,
        );
      }
      const res = await session.send({ action: WriteAction.WRITE, offset, data: Buffer.from(data) });
      offset += data.length;
      if (res.offset !== offset) {
        throw new BerthError(
          "DataLoss",
          `content store holds ${res.offset} bytes of ${desc.digest}, expected ${offset}`,
        );
      }
      options.onProgress?.(offset);
    }
    if (offset >= desc.size) return offset;
    if (reopenLeft-- <= 0) {
      const why = broken === undefined ? "the registry closed the response early" : errorMessage(broken);
      throw new BerthError(
        "Unavailable",
        `download of ${desc.digest} stopped at ${offset} of ${desc.size} bytes (${why}): run the pull again to resume`,
      );
    }
  }
  return offset;
}

/** Regroups a byte stream into chunks of at most `size` bytes (at least `size` except the last). */
async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let buffered = 0;
  try {
    for await (const piece of source) {
      let p = piece;
      while (buffered + p.length >= size) {
        const take = size - buffered;
        parts.push(p.subarray(0, take));
        yield Buffer.concat(parts);
        parts = [];
        buffered = 0;
        p = p.subarray(take);
      }
      if (p.length > 0) {
        parts.push(p);
        buffered += p.length;
      }
    }
  } catch (err) {
    // What arrived before the source broke is still worth storing: a resume starts after it.
    if (buffered > 0) yield Buffer.concat(parts);
    throw err;
  }
  if (buffered > 0) yield Buffer.concat(parts);
}

/** One Content.Write stream, used in lock step: one request, then its response. */
export class WriteSession {
  readonly #requests = new RequestQueue<Partial<WriteContentRequest>>();
  readonly #responses: AsyncIterator<WriteContentResponse>;
  #closed = false;

  constructor(conn: Connection, signal: AbortSignal | undefined) {
    this.#responses = conn.content.write(this.#requests, opt(signal))[Symbol.asyncIterator]();
  }

  async send(req: Partial<WriteContentRequest>): Promise<WriteContentResponse> {
    this.#requests.push(req);
    const res = await this.#responses.next();
    if (res.done)
      throw new BerthError("Unavailable", "the content store ended the write stream early: retry");
    return res.value;
  }

  /** Ends the request side and drains what the server still sends (it repeats its last answer). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#requests.close();
    try {
      for (;;) {
        const r = await this.#responses.next();
        if (r.done) break;
      }
    } catch {
      // The stream already failed; the error was reported by send().
    }
  }
}

/** An async iterable fed by push(); ends on close() or when its consumer stops. */
class RequestQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #waiting: ((r: IteratorResult<T>) => void) | undefined;
  #closed = false;

  push(item: T): void {
    if (this.#closed) return;
    const w = this.#waiting;
    if (w !== undefined) {
      this.#waiting = undefined;
      w({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  close(): void {
    this.#closed = true;
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.#waiting = resolve;
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}
