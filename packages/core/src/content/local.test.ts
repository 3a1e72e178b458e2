import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sha256Of } from "./digest.js";
import { LocalContentStore } from "./local.js";
import { contentStoreSuite } from "./testsuite.js";

contentStoreSuite("LocalContentStore", async () => {
  const root = mkdtempSync("/var/tmp/berth-content-");
  return {
    store: await LocalContentStore.open(root),
    teardown: async () => rmSync(root, { recursive: true, force: true }),
  };
});

describe("LocalContentStore on disk", () => {
  let root = "";
  before(() => {
    root = mkdtempSync("/var/tmp/berth-content-");
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const ingestDir = (ref: string) => join(root, "ingest", createHash("sha256").update(ref).digest("hex"));

  it("lays out blobs and ingests like containerd", async () => {
    const store = await LocalContentStore.open(root);
    const ref = "layout-ref";
    const w = await store.writer(ref, { total: 11 });
    await w.write(Buffer.from("hello"));
    await w.close();
    const dir = ingestDir(ref);
    assert.deepEqual(readdirSync(dir).sort(), ["data", "ref", "startedat", "total", "updatedat"]);
    assert.equal(readFileSync(join(dir, "ref"), "utf8"), ref);
    assert.equal(readFileSync(join(dir, "total"), "utf8"), "11");
    assert.equal(readFileSync(join(dir, "data"), "utf8"), "hello");

    const again = await store.writer(ref);
    await again.write(Buffer.from(" world"));
    const digest = await again.commit(11, sha256Of("hello world"));
    const blob = join(root, "blobs", "sha256", digest.slice("sha256:".length));
    assert.equal(store.blobPath(digest), blob);
    assert.equal(readFileSync(blob, "utf8"), "hello world");
    assert.equal(statSync(blob).mode & 0o777, 0o444);
    assert.ok(!existsSync(dir));
  });

  it("resumes after a crash: a new store on the same directory re-hashes what is there", async () => {
    const data = randomBytes(300_000);
    const digest = sha256Of(data);
    const ref = "crash-ref";
    const crashed = await LocalContentStore.open(root);
    const w = await crashed.writer(ref, { total: data.length, expected: digest });
    await w.write(data.subarray(0, 123_456));
    // No close: the process died here, holding the lock in memory only.

    const restarted = await LocalContentStore.open(root);
    const st = await restarted.status(ref);
    assert.equal(st.offset, 123_456);
    assert.equal(st.total, data.length);
    assert.equal(st.expected, digest);
    const resumed = await restarted.writer(ref);
    assert.equal((await resumed.status()).offset, 123_456);
    await resumed.write(data.subarray(123_456));
    assert.equal(await resumed.commit(data.length, digest), digest);
    assert.deepEqual(readFileSync(restarted.blobPath(digest)), data);
  });

  it("ignores and clears half-made ingest directories left by a crash", async () => {
    mkdirSync(join(root, "ingest", ".new-deadbeef"));
    mkdirSync(join(root, "ingest", "f".repeat(64)));
    const store = await LocalContentStore.open(root);
    assert.ok(!existsSync(join(root, "ingest", ".new-deadbeef")));
    assert.ok(!(await store.listStatuses()).some((s) => s.ref === ""));
  });

  it("refuses a resumed ingest whose total disagrees", async () => {
    const store = await LocalContentStore.open(root);
    const w = await store.writer("total-ref", { total: 10 });
    await w.close();
    await assert.rejects(store.writer("total-ref", { total: 11 }), { kind: "FailedPrecondition" });
    await store.abort("total-ref");
  });
});
