import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sha256Of } from "./digest.js";
import type { ContentStore } from "./store.js";

// The behaviour every ContentStore must show, whatever sits behind it: run it against
// the local store and against any proxy that claims the same interface.

export interface ContentStoreFixture {
  store: ContentStore;
  teardown(): Promise<void>;
}

function kind(expected: string, message?: RegExp) {
  return (err: unknown) => {
    assert.equal((err as { kind?: string }).kind, expected, String(err));
    if (message) assert.match((err as Error).message, message);
    return true;
  };
}

export function contentStoreSuite(name: string, setup: () => Promise<ContentStoreFixture>): void {
  describe(`ContentStore conformance: ${name}`, () => {
    let fixture: ContentStoreFixture;
    let store: ContentStore;
    before(async () => {
      fixture = await setup();
      store = fixture.store;
    });
    after(() => fixture.teardown());

    const unique = (label: string) => `${label}-${randomBytes(6).toString("hex")}`;

    it("writes, commits and reads back a blob", async () => {
      const data = Buffer.from(`hello ${unique("blob")}`);
      const digest = sha256Of(data);
      const ref = unique("write");
      const w = await store.writer(ref, { total: data.length, expected: digest });
      await w.write(data.subarray(0, 5));
      assert.equal((await w.status()).offset, 5);
      assert.equal((await store.status(ref)).offset, 5);
      await w.write(data.subarray(5));
      assert.equal(await w.commit(data.length, digest), digest);

      const info = await store.info(digest);
      assert.equal(info.digest, digest);
      assert.equal(info.size, data.length);
      assert.deepEqual(info.labels, {});
      assert.ok((await store.list()).some((i) => i.digest === digest));
      await assert.rejects(store.status(ref), kind("NotFound"));

      const r = await store.reader(digest);
      try {
        assert.equal(r.size, data.length);
        assert.deepEqual(Buffer.from(await r.readAt(0, data.length)), data);
        assert.deepEqual(Buffer.from(await r.readAt(6, 3)), data.subarray(6, 9));
        assert.deepEqual(Buffer.from(await r.readAt(data.length - 2, 100)), data.subarray(data.length - 2));
        assert.equal((await r.readAt(data.length, 10)).length, 0);
      } finally {
        await r.close();
      }
    });

    it("commits without a known size or digest", async () => {
      const data = randomBytes(70_000);
      const w = await store.writer(unique("unknown"));
      await w.write(data);
      assert.equal(await w.commit(0, ""), sha256Of(data));
      assert.equal((await store.info(sha256Of(data))).size, data.length);
    });

    it("rejects a commit with the wrong digest and commits nothing", async () => {
      const data = Buffer.from(unique("right"));
      const wrong = sha256Of(unique("wrong"));
      const w = await store.writer(unique("digest"));
      await w.write(data);
      await assert.rejects(
        w.commit(data.length, wrong),
        kind(
          "FailedPrecondition",
          new RegExp(`unexpected commit digest ${sha256Of(data)}, expected ${wrong}`),
        ),
      );
      await assert.rejects(store.info(sha256Of(data)), kind("NotFound"));
      await assert.rejects(store.info(wrong), kind("NotFound"));
    });

    it("rejects a commit with the wrong size and commits nothing", async () => {
      const data = Buffer.from(unique("size"));
      const w = await store.writer(unique("size"));
      await w.write(data);
      await assert.rejects(
        w.commit(data.length + 1, sha256Of(data)),
        kind(
          "FailedPrecondition",
          new RegExp(`unexpected commit size ${data.length}, expected ${data.length + 1}`),
        ),
      );
      await assert.rejects(store.info(sha256Of(data)), kind("NotFound"));
    });

    it("reports AlreadyExists for content it has, and drops the ingest", async () => {
      const data = Buffer.from(unique("dup"));
      const digest = sha256Of(data);
      const first = await store.writer(unique("dup"));
      await first.write(data);
      await first.commit(data.length, digest);

      await assert.rejects(store.writer(unique("dup"), { expected: digest }), kind("AlreadyExists"));
      const ref = unique("dup-blind");
      const second = await store.writer(ref);
      await second.write(data);
      await assert.rejects(second.commit(data.length, digest), kind("AlreadyExists"));
      await assert.rejects(store.status(ref), kind("NotFound"));
    });

    it("resumes an ingest after its writer closed", async () => {
      const data = randomBytes(100_000);
      const digest = sha256Of(data);
      const ref = unique("resume");
      const w1 = await store.writer(ref, { total: data.length, expected: digest });
      await w1.write(data.subarray(0, 40_000));
      await w1.close();

      const st = await store.status(ref);
      assert.equal(st.offset, 40_000);
      assert.equal(st.total, data.length);
      const w2 = await store.writer(ref, { total: data.length, expected: digest });
      assert.equal((await w2.status()).offset, 40_000);
      await w2.write(data.subarray(40_000));
      assert.equal(await w2.commit(data.length, digest), digest);
    });

    it("reports the digest of what a writer holds so far, across a resume", async () => {
      const data = randomBytes(10_000);
      const ref = unique("digest");
      const w1 = await store.writer(ref, { total: data.length });
      assert.equal(w1.digest(), sha256Of(Buffer.alloc(0)));
      await w1.write(data.subarray(0, 4_000));
      assert.equal(w1.digest(), sha256Of(data.subarray(0, 4_000)));
      await w1.close();
      const w2 = await store.writer(ref);
      assert.equal(w2.digest(), sha256Of(data.subarray(0, 4_000)));
      await w2.write(data.subarray(4_000));
      assert.equal(w2.digest(), sha256Of(data));
      assert.equal(await w2.commit(data.length, ""), sha256Of(data));
      assert.equal(w2.digest(), sha256Of(data));
    });

    it("hands a ref to a new writer once the old one starts closing", async () => {
      const ref = unique("closing");
      const w1 = await store.writer(ref);
      await w1.write(Buffer.from("abc"));
      // The old writer's stream ended; its close is still syncing when the client resumes.
      const closed = w1.close();
      const w2 = await store.writer(ref);
      assert.equal((await w2.status()).offset, 3);
      await closed;
      await assert.rejects(store.writer(ref), kind("Unavailable", new RegExp(`ref ${ref} locked`)));
      await w2.close();
      await store.abort(ref);
    });

    it("lets only one writer hold a ref", async () => {
      const ref = unique("locked");
      const w1 = await store.writer(ref);
      await assert.rejects(store.writer(ref), kind("Unavailable", new RegExp(`ref ${ref} locked`)));
      await w1.close();
      const w2 = await store.writer(ref);
      await w2.close();
      await store.abort(ref);
    });

    it("frees the ref after a failed commit", async () => {
      const ref = unique("failed");
      const w = await store.writer(ref);
      await w.write(Buffer.from("x"));
      await assert.rejects(w.commit(5, ""), kind("FailedPrecondition"));
      const again = await store.writer(ref);
      await again.close();
      await store.abort(ref);
    });

    it("truncates and rewrites an ingest", async () => {
      const ref = unique("truncate");
      const w = await store.writer(ref);
      await w.write(Buffer.from("garbage that will go"));
      await w.truncate(0);
      const data = Buffer.from(unique("kept"));
      await w.write(data);
      assert.equal(await w.commit(data.length, sha256Of(data)), sha256Of(data));
    });

    it("aborts ingests", async () => {
      const ref = unique("abort");
      const w = await store.writer(ref);
      await w.write(Buffer.from("partial"));
      await w.close();
      await store.abort(ref);
      await assert.rejects(store.status(ref), kind("NotFound"));
      await assert.rejects(store.abort(ref), kind("NotFound"));
      const fresh = await store.writer(ref);
      assert.equal((await fresh.status()).offset, 0);
      await fresh.close();
      await store.abort(ref);
    });

    it("lists ingest statuses", async () => {
      const a = unique("list-a");
      const b = unique("list-b");
      const expected = sha256Of("whatever");
      const wa = await store.writer(a, { total: 10, expected });
      await wa.write(Buffer.from("abc"));
      const wb = await store.writer(b);
      await wb.close();
      const statuses = await store.listStatuses();
      const sa = statuses.find((s) => s.ref === a);
      assert.equal(sa?.offset, 3);
      assert.equal(sa?.total, 10);
      assert.equal(sa?.expected, expected);
      assert.ok(sa.startedAt <= sa.updatedAt);
      assert.equal(statuses.find((s) => s.ref === b)?.offset, 0);
      await wa.close();
      await store.abort(a);
      await store.abort(b);
    });

    it("deletes blobs", async () => {
      const data = Buffer.from(unique("delete"));
      const w = await store.writer(unique("delete"));
      await w.write(data);
      const digest = await w.commit(0, "");
      await store.delete(digest);
      await assert.rejects(store.info(digest), kind("NotFound"));
      await assert.rejects(store.reader(digest), kind("NotFound"));
      await assert.rejects(store.delete(digest), kind("NotFound"));
    });

    it("accepts only sha256 digests in canonical form", async () => {
      const hex = "a".repeat(64);
      for (const bad of [
        "",
        "sha256:abc",
        `sha512:${hex}`,
        `sha256:${hex.toUpperCase()}`,
        `sha256:${hex}/..`,
        hex,
      ]) {
        await assert.rejects(store.info(bad), kind("InvalidArgument"), bad);
        await assert.rejects(store.reader(bad), kind("InvalidArgument"), bad);
        await assert.rejects(store.delete(bad), kind("InvalidArgument"), bad);
      }
      await assert.rejects(store.writer(unique("bad"), { expected: "sha256:nope" }), kind("InvalidArgument"));
      const w = await store.writer(unique("bad-commit"));
      await w.write(Buffer.from("x"));
      await assert.rejects(w.commit(0, "md5:abc"), kind("InvalidArgument"));
      await w.close();
    });

    it("refuses an empty ref", async () => {
      await assert.rejects(store.writer(""), kind("InvalidArgument"));
    });
  });
}
