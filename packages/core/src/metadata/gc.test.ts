// Garbage collection over the real local content store and native snapshotter:
// leases hold, images and gc.ref labels keep, and removal frees.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { silentLogger } from "@berth/client/log";
import { LocalContentStore } from "../content/local.js";
import { NativeSnapshotter } from "../snapshots/native.js";
import type { RequestContext } from "./context.js";
import { Metadata } from "./metadata.js";

let dir: string;
let md: Metadata;
let content: LocalContentStore;
const ctx: RequestContext = { namespace: "gc-test", lease: "" };
const digestOf = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

async function put(c: RequestContext, data: string, labels: Record<string, string> = {}): Promise<string> {
  const w = await md.content.writer(c, `ref-${data}`, data.length, digestOf(data));
  await w.write(Buffer.from(data));
  return w.commit(data.length, digestOf(data), labels);
}

before(async () => {
  dir = await mkdtemp("/var/tmp/berth-gc-");
  content = await LocalContentStore.open(join(dir, "content"));
  const native = await NativeSnapshotter.open(join(dir, "native"));
  md = Metadata.open(dir, content, { native }, silentLogger);
});

after(async () => {
  await md.close();
  await rm(dir, { recursive: true, force: true });
});

test("unreferenced content is collected; leased, image-referenced and labelled content stays", async () => {
  md.leases.create(ctx, "l1", {});
  const leased = await put({ ...ctx, lease: "l1" }, "leased");
  const orphan = await put(ctx, "orphan");
  const layer = await put(ctx, "layer");
  const manifest = await put(ctx, "manifest", { "containerd.io/gc.ref.content.l.0": layer });
  md.images.create(ctx, {
    name: "img:1",
    labels: {},
    target: {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: manifest,
      size: 8,
      annotations: {},
    },
  });

  const stats = await md.gc.collect();
  assert.equal(stats.contentRemoved, 1);
  const left = (await md.content.list(ctx)).map((i) => i.digest).sort();
  assert.deepEqual(left, [leased, layer, manifest].sort());
  await assert.rejects(content.info(orphan), /not found/);

  md.images.delete(ctx, "img:1");
  md.leases.delete(ctx, "l1");
  await md.gc.collect();
  assert.deepEqual(await md.content.list(ctx), []);
  assert.deepEqual(await content.list(), []);
});

test("snapshots: parents of kept snapshots stay, a removed chain is collected from disk", async () => {
  md.leases.create(ctx, "l2", {});
  const lc = { ...ctx, lease: "l2" };
  const sn = md.snapshotters.get("native")!;
  await sn.prepare(lc, "a-active", "", {});
  await sn.commit(lc, "a", "a-active", {});
  await sn.prepare(lc, "b-active", "a", {});
  await sn.commit(lc, "b", "b-active", {});
  const config = await put(ctx, "config", { "containerd.io/gc.ref.snapshot.native": "b" });
  md.images.create(ctx, {
    name: "img:2",
    labels: {},
    target: { mediaType: "m", digest: config, size: 6, annotations: {} },
  });
  md.leases.delete(ctx, "l2");
  await md.gc.collect();
  assert.deepEqual(
    sn
      .list(ctx)
      .map((s) => s.name)
      .sort(),
    ["a", "b"],
  );
  md.images.delete(ctx, "img:2");
  await md.gc.collect();
  assert.deepEqual(sn.list(ctx), []);
  assert.deepEqual(await sn.backend.list(), []);
});

test("an expired lease is removed and no longer holds anything", async () => {
  md.leases.create(ctx, "old", { "containerd.io/gc.expire": new Date(Date.now() - 1000).toISOString() });
  await put({ ...ctx, lease: "old" }, "expired-data");
  const stats = await md.gc.collect();
  assert.equal(stats.leasesExpired, 1);
  assert.deepEqual(md.leases.list(ctx), []);
  assert.deepEqual(await md.content.list(ctx), []);
});

test("content shared from another namespace is not fetched again and survives the other's removal", async () => {
  md.leases.create(ctx, "l3", {});
  const d = await put({ ...ctx, lease: "l3" }, "shared");
  const other: RequestContext = { namespace: "gc-other", lease: "" };
  md.leases.create(other, "l4", {});
  // As containerd's shared writer: it already holds the blob, and a commit records it here.
  const w = await md.content.writer({ ...other, lease: "l4" }, "x", 6, d);
  assert.deepEqual(
    { ...(await w.status()), startedAt: undefined, updatedAt: undefined },
    { ref: "x", offset: 6, total: 6, expected: d, startedAt: undefined, updatedAt: undefined },
  );
  assert.equal(w.digest(), d);
  // Until committed it is not this namespace's; collection keeps the blob for the ingest.
  await assert.rejects(md.content.info(other, d), /not found/);
  md.leases.delete(ctx, "l3");
  await md.gc.collect();
  assert.equal((await content.info(d)).size, 6);
  assert.equal(await w.commit(6, d, { "berth.test/shared": "yes" }), d);
  await w.close();
  const info = await md.content.info(other, d);
  assert.equal(info.size, 6);
  assert.deepEqual(info.labels, { "berth.test/shared": "yes" });
  await md.gc.collect();
  assert.equal((await md.content.info(other, d)).size, 6);
  md.leases.delete(other, "l4");
  await md.gc.collect();
  await assert.rejects(content.info(d), /not found/);
});

test("an ingest opened outside a lease survives collection (containerd keeps it 24 hours); a leased one goes with its lease", async () => {
  const loose = await md.content.writer(ctx, "loose-ingest", 10, "");
  await loose.write(Buffer.from("hello"));
  await loose.close();
  md.leases.create(ctx, "l-ingest", {});
  const leasedCtx = { ...ctx, lease: "l-ingest" };
  const leased = await md.content.writer(leasedCtx, "leased-ingest", 10, "");
  await leased.write(Buffer.from("world"));
  await leased.close();

  await md.gc.collect();
  assert.equal((await md.content.status(ctx, "loose-ingest")).offset, 5);
  assert.equal((await md.content.status(ctx, "leased-ingest")).offset, 5);

  md.leases.delete(ctx, "l-ingest");
  await md.gc.collect();
  assert.equal((await md.content.status(ctx, "loose-ingest")).offset, 5);
  await assert.rejects(md.content.status(ctx, "leased-ingest"), /not found/);
  await md.content.abort(ctx, "loose-ingest");
});
