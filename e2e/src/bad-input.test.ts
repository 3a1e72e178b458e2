// Malformed requests, unknown ids and bad digests get containerd's gRPC status codes,
// and nothing is committed: checked against berthd and against containerd itself.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Status } from "nice-grpc";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { type Clients, clients, codeOf, sha256, writeBlob } from "./grpc.js";

for (const { kind, start } of daemonKinds) {
  describe(`bad input against ${kind}`, () => {
    let daemon: DaemonUnderTest;
    let c: Clients;
    let bare: Clients;
    before(async () => {
      daemon = await start();
      const setup = clients(daemon.address, "badinput");
      await setup.leases.create({ id: "bad-input-test" });
      setup.close();
      c = clients(daemon.address, "badinput", "bad-input-test");
      bare = clients(daemon.address);
    });
    after(async () => {
      c?.close();
      bare?.close();
      await daemon?.stop();
    });

    test("a request without a namespace is FailedPrecondition; a malformed namespace InvalidArgument", async () => {
      assert.equal(await codeOf(bare.images.list({})), Status.FAILED_PRECONDITION);
      const badNs = clients(daemon.address, "bad namespace!");
      try {
        assert.equal(await codeOf(badNs.images.list({})), Status.INVALID_ARGUMENT);
      } finally {
        badNs.close();
      }
    });

    test("unknown ids are NotFound", async () => {
      assert.equal(await codeOf(c.images.get({ name: "nope:latest" })), Status.NOT_FOUND);
      assert.equal(await codeOf(c.images.delete({ name: "nope:latest" })), Status.NOT_FOUND);
      assert.equal(await codeOf(c.content.info({ digest: `sha256:${"a".repeat(64)}` })), Status.NOT_FOUND);
      assert.equal(
        await codeOf(c.snapshots.stat({ snapshotter: "overlayfs", key: "nope" })),
        Status.NOT_FOUND,
      );
      assert.equal(await codeOf(c.leases.delete({ id: "nope" })), Status.NOT_FOUND);
      assert.equal(await codeOf(c.namespaces.delete({ name: "nope" })), Status.NOT_FOUND);
      assert.equal(await codeOf(c.content.status({ ref: "nope" })), Status.NOT_FOUND);
    });

    test("malformed requests are InvalidArgument", async () => {
      assert.equal(await codeOf(c.content.info({ digest: "not-a-digest" })), Status.INVALID_ARGUMENT);
      assert.equal(
        await codeOf(
          c.images.create({
            image: { name: "", target: { mediaType: "x", digest: sha256(Buffer.from("x")), size: 1 } },
          }),
        ),
        Status.INVALID_ARGUMENT,
      );
      assert.equal(
        await codeOf(c.snapshots.prepare({ snapshotter: "no-such-snapshotter", key: "k" })),
        Status.INVALID_ARGUMENT,
      );
    });

    test("creating twice is AlreadyExists", async () => {
      const target = {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: sha256(Buffer.from("m")),
        size: 1,
      };
      await c.images.create({ image: { name: "twice:latest", target } });
      assert.equal(
        await codeOf(c.images.create({ image: { name: "twice:latest", target } })),
        Status.ALREADY_EXISTS,
      );
      await c.images.delete({ name: "twice:latest" });
      await c.leases.create({ id: "twice" });
      assert.equal(await codeOf(c.leases.create({ id: "twice" })), Status.ALREADY_EXISTS);
      await c.leases.delete({ id: "twice" });
      assert.equal(
        await codeOf(c.namespaces.create({ namespace: { name: "badinput" } })),
        Status.ALREADY_EXISTS,
      );
    });

    test("a blob whose bytes do not match its digest or size is never committed", async () => {
      const data = Buffer.from("the real bytes");
      const claimed = sha256(Buffer.from("other bytes"));
      assert.equal(
        await codeOf(writeBlob(c, data, { expected: claimed, ref: "wrong-digest" })),
        Status.FAILED_PRECONDITION,
      );
      assert.equal(await codeOf(c.content.info({ digest: claimed })), Status.NOT_FOUND);
      assert.equal(await codeOf(c.content.info({ digest: sha256(data) })), Status.NOT_FOUND);
      assert.equal(
        await codeOf(writeBlob(c, data, { total: data.length + 5, ref: "wrong-size" })),
        Status.FAILED_PRECONDITION,
      );
      assert.equal(await codeOf(c.content.info({ digest: sha256(data) })), Status.NOT_FOUND);
      // The right bytes under the right digest do commit.
      assert.equal(await writeBlob(c, data, { ref: "right" }), sha256(data));
      assert.equal((await c.content.info({ digest: sha256(data) })).info?.size, data.length);
      await c.content.delete({ digest: sha256(data) });
    });

    test("removing a snapshot with children is FailedPrecondition; a non-empty namespace cannot be deleted", async () => {
      await c.snapshots.prepare({ snapshotter: "overlayfs", key: "parent-active" });
      await c.snapshots.commit({ snapshotter: "overlayfs", name: "parent", key: "parent-active" });
      await c.snapshots.prepare({ snapshotter: "overlayfs", key: "child", parent: "parent" });
      assert.equal(
        await codeOf(c.snapshots.remove({ snapshotter: "overlayfs", key: "parent" })),
        Status.FAILED_PRECONDITION,
      );
      assert.equal(await codeOf(c.namespaces.delete({ name: "badinput" })), Status.FAILED_PRECONDITION);
      assert.equal(
        await codeOf(c.snapshots.prepare({ snapshotter: "overlayfs", key: "child", parent: "parent" })),
        Status.ALREADY_EXISTS,
      );
      assert.equal(
        await codeOf(
          c.snapshots.prepare({ snapshotter: "overlayfs", key: "orphan", parent: "no-such-parent" }),
        ),
        Status.NOT_FOUND,
      );
      await c.snapshots.remove({ snapshotter: "overlayfs", key: "child" });
      await c.snapshots.remove({ snapshotter: "overlayfs", key: "parent" });
    });

    test("applying a layer the store does not have is NotFound", async () => {
      const mounts = (await c.snapshots.prepare({ snapshotter: "overlayfs", key: "apply-missing" })).mounts;
      const code = await codeOf(
        c.diff.apply({
          diff: {
            mediaType: "application/vnd.oci.image.layer.v1.tar",
            digest: `sha256:${"b".repeat(64)}`,
            size: 10,
          },
          mounts,
        }),
      );
      assert.equal(code, Status.NOT_FOUND);
      await c.snapshots.remove({ snapshotter: "overlayfs", key: "apply-missing" });
    });
  });
}
