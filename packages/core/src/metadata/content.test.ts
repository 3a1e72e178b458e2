// Content shared across namespaces: a blob is stored once, but a namespace sees it only
// after it wrote or committed it itself, as containerd's metadata content store does.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isAlreadyExists, isNotFound } from "@berth/client/errdefs";
import { silentLogger } from "@berth/client/log";
import { LocalContentStore } from "../content/local.js";
import { NativeSnapshotter } from "../snapshots/native.js";
import type { RequestContext } from "./context.js";
import { Metadata } from "./metadata.js";

let dir: string;
let md: Metadata;
const a: RequestContext = { namespace: "ns-a", lease: "" };
const b: RequestContext = { namespace: "ns-b", lease: "" };
const c: RequestContext = { namespace: "ns-c", lease: "" };
const data = "a blob two namespaces want\n";
const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;

before(async () => {
  dir = await mkdtemp("/var/tmp/berth-content-");
  const content = await LocalContentStore.open(join(dir, "content"));
  const native = await NativeSnapshotter.open(join(dir, "native"));
  md = Metadata.open(dir, content, { native }, silentLogger);
  const w = await md.content.writer(a, "first", data.length, "");
  await w.write(Buffer.from(data));
  assert.equal(await w.commit(data.length, "", {}), digest);
});

after(async () => {
  await md.close();
  await rm(dir, { recursive: true, force: true });
});

test("a blob only another namespace has is not found", async () => {
  await assert.rejects(md.content.info(b, digest), isNotFound);
  await assert.rejects(md.content.reader(b, digest), isNotFound);
  assert.deepEqual(await md.content.list(b), []);
});

test("writing the same bytes with no expected digest commits them into this namespace with its labels", async () => {
  const w = await md.content.writer(b, "import", 0, "");
  await w.write(Buffer.from(data));
  assert.equal(await w.commit(data.length, "", { team: "b" }), digest);
  const info = await md.content.info(b, digest);
  assert.equal(info.size, data.length);
  assert.deepEqual(info.labels, { team: "b" });
  assert.deepEqual((await md.content.info(a, digest)).labels, {}, "namespace a keeps its own labels");
  assert.deepEqual(await md.content.listStatuses(b), [], "the ingest is gone");
});

test("a second commit of the same bytes in one namespace is AlreadyExists", async () => {
  const w = await md.content.writer(b, "again", 0, "");
  await w.write(Buffer.from(data));
  await assert.rejects(w.commit(data.length, "", {}), isAlreadyExists);
});

test("a writer for a digest another namespace has holds it already; its commit records it", async () => {
  const w = await md.content.writer(c, "fetch", data.length, digest);
  const st = await w.status();
  assert.equal(st.offset, data.length, "the blob is there without a byte written");
  await assert.rejects(md.content.info(c, digest), isNotFound, "not recorded before the commit");
  assert.equal(await w.commit(data.length, digest, { team: "c" }), digest);
  const info = await md.content.info(c, digest);
  assert.equal(info.size, data.length);
  assert.deepEqual(info.labels, { team: "c" });
});

test("a writer that finds another namespace's blob while a collection sweeps it gets a private ingest, not a lost blob", async () => {
  const own = await mkdtemp("/var/tmp/berth-content-");
  const content = await LocalContentStore.open(join(own, "content"));
  const native = await NativeSnapshotter.open(join(own, "native"));
  const m = Metadata.open(own, content, { native }, silentLogger);
  try {
    const blob = "a blob nothing references\n";
    const blobDigest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    const first = await m.content.writer(a, "unreferenced", blob.length, "");
    await first.write(Buffer.from(blob));
    await first.commit(blob.length, "", {});
    // The collection takes the lock first; the writer finds the blob, then waits for it.
    const collected = m.gc.collect();
    const w = await m.content.writer(b, "after-gc", blob.length, blobDigest);
    await collected;
    // As a client does: write what the status says is missing, then commit.
    const { offset } = await w.status();
    if (offset < blob.length) await w.write(Buffer.from(blob).subarray(offset));
    assert.equal(await w.commit(blob.length, blobDigest, {}), blobDigest);
    assert.equal((await m.content.info(b, blobDigest)).size, blob.length);
    const r = await m.content.reader(b, blobDigest);
    try {
      assert.equal(Buffer.from(await r.readAt(0, blob.length)).toString(), blob);
    } finally {
      await r.close();
    }
  } finally {
    await m.close();
    await rm(own, { recursive: true, force: true });
  }
});
