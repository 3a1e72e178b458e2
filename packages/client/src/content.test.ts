import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  ContentDefinition,
  type ContentServiceImplementation,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from "@berth/api/containerd/services/content/v1/content";
import { type CallContext, type Server, ServerError, Status, createServer } from "nice-grpc";
import { type Connection, LEASE_METADATA_KEY, NAMESPACE_METADATA_KEY, connect } from "./connection.js";
import {
  type BlobSource,
  WRITE_CHUNK_BYTES,
  bytesSource,
  contentInfo,
  readBlob,
  writeBlob,
} from "./content.js";
import { isKind, isNotFound } from "./errdefs.js";
import { sha256Digest } from "./identity.js";

/** An in-memory content store behind containerd's Content service, enough for writes. */
class FakeContentStore {
  blobs = new Map<string, Buffer>();
  ingests = new Map<string, Buffer>();
  locked = new Set<string>();
  writes: Array<{ action: WriteAction; offset: number; size: number }> = [];
  metadata: Array<{ namespace: string | undefined; lease: string | undefined }> = [];

  reset(): void {
    this.blobs.clear();
    this.ingests.clear();
    this.locked.clear();
    this.writes = [];
    this.metadata = [];
  }

  service(): ContentServiceImplementation {
    const unimplemented = () => {
      throw new ServerError(Status.UNIMPLEMENTED, "not in this fake");
    };
    const store = this;
    return {
      info: async (req, ctx) => {
        store.#record(ctx);
        const blob = store.blobs.get(req.digest);
        if (blob === undefined) throw new ServerError(Status.NOT_FOUND, `content ${req.digest}: not found`);
        return { info: { digest: req.digest, size: blob.length, labels: {} } };
      },
      update: unimplemented,
      list: unimplemented,
      delete: unimplemented,
      read: async function* (req) {
        const blob = store.blobs.get(req.digest);
        if (blob === undefined) throw new ServerError(Status.NOT_FOUND, "not found");
        for (let i = 0; i < blob.length; i += 7) yield { offset: i, data: blob.subarray(i, i + 7) };
      },
      status: unimplemented,
      listStatuses: unimplemented,
      abort: unimplemented,
      write: (requests, ctx) => store.#write(requests, ctx),
    };
  }

  #record(ctx: CallContext): void {
    this.metadata.push({
      namespace: ctx.metadata.get(NAMESPACE_METADATA_KEY),
      lease: ctx.metadata.get(LEASE_METADATA_KEY),
    });
  }

  // Answers like containerd's service: one response per request, offsets checked,
  // WRITE at offset 0 truncates, COMMIT verifies size and digest.
  async *#write(
    requests: AsyncIterable<WriteContentRequest>,
    ctx: CallContext,
  ): AsyncGenerator<Partial<WriteContentResponse>> {
    this.#record(ctx);
    let ref = "";
    let total = 0;
    let expected = "";
    try {
      for await (const req of requests) {
        this.writes.push({ action: req.action, offset: req.offset, size: req.data.length });
        if (ref === "") {
          ref = req.ref;
          if (this.locked.has(ref)) throw new ServerError(Status.UNAVAILABLE, `ref ${ref} locked`);
          if (req.expected !== "" && this.blobs.has(req.expected)) {
            throw new ServerError(Status.ALREADY_EXISTS, `content ${req.expected}: already exists`);
          }
          this.locked.add(ref);
        }
        if (req.total > 0) total = req.total;
        if (req.expected !== "") expected = req.expected;
        let data = this.ingests.get(ref) ?? Buffer.alloc(0);
        if (req.action === WriteAction.WRITE || req.action === WriteAction.COMMIT) {
          if (req.offset > 0 && req.offset !== data.length) {
            throw new ServerError(Status.OUT_OF_RANGE, `write @${req.offset} must occur at ${data.length}`);
          }
          if (req.offset === 0 && data.length > 0 && req.data.length > 0) data = Buffer.alloc(0);
          data = Buffer.concat([data, req.data]);
          this.ingests.set(ref, data);
          if (req.action === WriteAction.COMMIT) {
            if (data.length !== total)
              throw new ServerError(Status.FAILED_PRECONDITION, "unexpected commit size");
            if (sha256Digest(data) !== expected)
              throw new ServerError(Status.FAILED_PRECONDITION, "unexpected digest");
            if (this.blobs.has(expected)) throw new ServerError(Status.ALREADY_EXISTS, "already exists");
            this.blobs.set(expected, data);
            this.ingests.delete(ref);
          }
        }
        yield { action: req.action, offset: data.length, total, digest: sha256Digest(data) };
      }
    } finally {
      this.locked.delete(ref);
    }
  }
}

/** A source that records where it was opened and can break after some bytes. */
function recordingSource(data: Buffer, breakAfter?: number): BlobSource & { opened: number[] } {
  const opened: number[] = [];
  let broken = false;
  return {
    opened,
    open: async (offset) => {
      opened.push(offset);
      const inner = await bytesSource(data).open(offset);
      return {
        offset: inner.offset,
        body: (async function* () {
          let sent = offset;
          for await (const chunk of inner.body) {
            if (breakAfter !== undefined && !broken && sent + chunk.length > breakAfter) {
              broken = true;
              yield chunk.subarray(0, breakAfter - sent);
              throw new Error("connection reset");
            }
            sent += chunk.length;
            yield chunk;
          }
        })(),
      };
    },
  };
}

describe("content writes through the Content service", () => {
  const store = new FakeContentStore();
  let server: Server;
  let dir: string;
  let conn: Connection;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-content-"));
    server = createServer();
    server.add(ContentDefinition, store.service());
    const address = join(dir, "content.sock");
    await server.listen(`unix://${address}`);
    conn = connect({ address, namespace: "testns", lease: "lease-1" });
  });
  after(async () => {
    conn.close();
    await server.shutdown();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => store.reset());

  test("STAT, WRITE in chunks of at most 1 MiB at their offsets, COMMIT", async () => {
    const data = Buffer.alloc(WRITE_CHUNK_BYTES * 2 + 100, 7);
    const desc = { digest: sha256Digest(data), size: data.length };
    const progress: number[] = [];
    const result = await writeBlob(conn, desc, bytesSource(data), {
      ref: "layer-x",
      onProgress: (o) => progress.push(o),
    });
    assert.equal(result, "written");
    assert.deepEqual(store.blobs.get(desc.digest), data);
    assert.deepEqual(store.writes, [
      { action: WriteAction.STAT, offset: 0, size: 0 },
      { action: WriteAction.WRITE, offset: 0, size: WRITE_CHUNK_BYTES },
      { action: WriteAction.WRITE, offset: WRITE_CHUNK_BYTES, size: WRITE_CHUNK_BYTES },
      { action: WriteAction.WRITE, offset: 2 * WRITE_CHUNK_BYTES, size: 100 },
      { action: WriteAction.COMMIT, offset: data.length, size: 0 },
    ]);
    assert.deepEqual(progress, [0, WRITE_CHUNK_BYTES, 2 * WRITE_CHUNK_BYTES, data.length]);
    assert.deepEqual(store.metadata[0], { namespace: "testns", lease: "lease-1" });
  });

  test("resumes an interrupted ingest from the offset STAT reports", async () => {
    const data = Buffer.from("hello, resumable world");
    store.ingests.set("layer-r", data.subarray(0, 10));
    const source = recordingSource(data);
    assert.equal(
      await writeBlob(conn, { digest: sha256Digest(data), size: data.length }, source, { ref: "layer-r" }),
      "written",
    );
    assert.deepEqual(source.opened, [10]);
    assert.deepEqual(store.blobs.get(sha256Digest(data)), data);
  });

  test("a source that cannot seek starts over, and the ingest is truncated", async () => {
    const data = Buffer.from("0123456789abcdef");
    store.ingests.set("layer-t", Buffer.from("XXXXX"));
    const source: BlobSource = { open: async () => bytesSource(data).open(0) };
    assert.equal(
      await writeBlob(conn, { digest: sha256Digest(data), size: data.length }, source, { ref: "layer-t" }),
      "written",
    );
    assert.deepEqual(store.blobs.get(sha256Digest(data)), data);
  });

  test("a body that breaks is reopened at the stored offset", async () => {
    const data = Buffer.alloc(3000, 1);
    const source = recordingSource(data, 1000);
    assert.equal(
      await writeBlob(conn, { digest: sha256Digest(data), size: data.length }, source, { ref: "layer-b" }),
      "written",
    );
    assert.deepEqual(source.opened, [0, 1000]);
  });

  test("an existing blob is not fetched", async () => {
    const data = Buffer.from("already here");
    store.blobs.set(sha256Digest(data), data);
    const source = recordingSource(data);
    assert.equal(
      await writeBlob(conn, { digest: sha256Digest(data), size: data.length }, source, { ref: "layer-e" }),
      "exists",
    );
    assert.deepEqual(source.opened, []);
  });

  test("content that does not match the digest fails as DataLoss and is not stored", async () => {
    const data = Buffer.from("the real bytes");
    const wrong = Buffer.from("other  bytes!!");
    await assert.rejects(
      writeBlob(conn, { digest: sha256Digest(data), size: data.length }, bytesSource(wrong), {
        ref: "layer-d",
      }),
      (err: unknown) => isKind(err, "DataLoss") && /retry the pull/.test(String(err)),
    );
    assert.equal(store.blobs.size, 0);
  });

  test("waits while another writer holds the ref", async () => {
    const data = Buffer.from("locked for a moment");
    store.locked.add("layer-l");
    let waited = 0;
    setTimeout(() => store.locked.delete("layer-l"), 50);
    const result = await writeBlob(
      conn,
      { digest: sha256Digest(data), size: data.length },
      bytesSource(data),
      {
        ref: "layer-l",
        onWaiting: () => waited++,
      },
    );
    assert.equal(result, "written");
    assert.ok(waited > 0);
  });

  test("info, read, and NotFound mapped from the gRPC status", async () => {
    const data = Buffer.from("some bytes to read back in small pieces");
    store.blobs.set(sha256Digest(data), data);
    assert.equal((await contentInfo(conn, sha256Digest(data)))?.size, data.length);
    assert.equal(await contentInfo(conn, sha256Digest("nope")), undefined);
    assert.deepEqual(await readBlob(conn, sha256Digest(data)), data);
    await assert.rejects(readBlob(conn, sha256Digest("nope")), (err: unknown) => isNotFound(err));
  });
});
