// Debian's ctr 1.6 against berthd, and the very same steps against Debian's containerd:
// pull, list, content, snapshots (mounted and checked), events, a second pull that
// fetches nothing, image removal and garbage collection.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { type PushedImage, type TestImage, buildSimpleImage, buildTestImage } from "./fixtures/images.js";
import { mountAll, parseMountCommands, unmount } from "./fixtures/mounts.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { assertRootfs } from "./fixtures/rootfs.js";
import { tempDir, waitFor } from "./fixtures/tmp.js";
import { type CountingProxy, startCountingProxy } from "./proxy.js";

for (const { kind, start } of daemonKinds) {
  describe(`ctr images against ${kind}`, () => {
    let registry: Registry;
    let proxy: CountingProxy;
    let daemon: DaemonUnderTest;
    let image: TestImage;
    let other: PushedImage;
    let ref: string;
    let otherRef: string;

    before(async () => {
      registry = await startRegistry();
      image = await buildTestImage(registry.host);
      other = await buildSimpleImage(registry.host, "berth/simple", "v1");
      proxy = await startCountingProxy(registry.host);
      ref = `${proxy.host}/${image.name}:${image.tag}`;
      otherRef = `${proxy.host}/${other.name}:${other.tag}`;
      daemon = await start();
    });

    after(async () => {
      await daemon?.stop();
      await proxy?.stop();
      await registry?.stop();
    });

    test("ctr images pull --plain-http succeeds", async () => {
      await ctrOk(daemon.address, ["images", "pull", "--plain-http", ref]);
      assert.ok(proxy.blobGets >= 1 + image.layers.length, `fetched ${proxy.blobGets} blobs`);
    });

    test("ctr images ls lists the image with its manifest digest", async () => {
      const rows = parseTable((await ctrOk(daemon.address, ["images", "ls"])).stdout);
      const row = rows.find((r) => r.REF === ref);
      assert.ok(row, `no ${ref} in ${JSON.stringify(rows)}`);
      assert.equal(row.DIGEST, image.manifestDigest);
      assert.equal(row.TYPE, image.mediaType);
      assert.match(row.PLATFORMS ?? "", /linux\/amd64/);
    });

    test("ctr content ls shows every blob with containerd's gc labels", async () => {
      const rows = parseTable((await ctrOk(daemon.address, ["content", "ls"])).stdout);
      const byDigest = new Map(rows.map((r) => [r.DIGEST, r]));
      for (const d of [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)]) {
        assert.ok(byDigest.has(d), `content ls lacks ${d}`);
      }
      const manifest = byDigest.get(image.manifestDigest)!;
      assert.match(
        manifest.LABELS ?? "",
        new RegExp(`containerd.io/gc.ref.content.config=${image.configDigest}`),
      );
      assert.match(manifest.LABELS ?? "", /containerd.io\/gc.ref.content.l.0=/);
      const config = byDigest.get(image.configDigest)!;
      assert.match(
        config.LABELS ?? "",
        new RegExp(`containerd.io/gc.ref.snapshot.overlayfs=${image.chainId}`),
      );
    });

    test("ctr snapshots ls shows the committed chain", async () => {
      const rows = parseTable((await ctrOk(daemon.address, ["snapshots", "ls"])).stdout);
      const top = rows.find((r) => r.KEY === image.chainId);
      assert.ok(top, `no snapshot ${image.chainId} in ${JSON.stringify(rows)}`);
      assert.equal(top.KIND, "Committed");
      assert.equal(rows.filter((r) => r.KIND === "Committed").length, image.layers.length);
    });

    test("a snapshot prepared on the image mounts with the image's files, whiteouts applied", async () => {
      const key = `check-${kind}`;
      const target = await tempDir("rootfs-");
      await ctrOk(daemon.address, ["snapshots", "prepare", key, image.chainId]);
      const specs = parseMountCommands(
        (await ctrOk(daemon.address, ["snapshots", "mounts", target, key])).stdout,
      );
      assert.ok(specs.length > 0);
      await mountAll(specs, target);
      try {
        await assertRootfs(target, image.files);
      } finally {
        await unmount(target);
        await ctrOk(daemon.address, ["snapshots", "rm", key]);
      }
    });

    test("ctr snapshots diff turns a changed snapshot into a layer in the content store", async () => {
      const key = `diff-${kind}`;
      const target = await tempDir("diff-");
      await ctrOk(daemon.address, ["snapshots", "prepare", key, image.chainId]);
      const specs = parseMountCommands(
        (await ctrOk(daemon.address, ["snapshots", "mounts", target, key])).stdout,
      );
      await mountAll(specs, target);
      try {
        await writeFile(join(target, "data", "diff-added.txt"), "added by the test\n");
        await rm(join(target, "data", "keep.txt"));
      } finally {
        await unmount(target);
      }
      // ctr writes the new layer (tar+gzip) to stdout and keeps it in the content store.
      const layer = await execa("/usr/bin/ctr", ["--address", daemon.address, "snapshots", "diff", key], {
        encoding: "buffer",
      });
      assert.equal(layer.exitCode, 0);
      const listing = (await execa("tar", ["-tzv"], { input: layer.stdout })).stdout;
      assert.match(listing, /data\/diff-added\.txt/);
      assert.match(listing, /data\/\.wh\.keep\.txt/);
      assert.doesNotMatch(listing, /bin\/busybox/, "the diff holds only the change");
      const digest = `sha256:${createHash("sha256").update(layer.stdout).digest("hex")}`;
      await ctrOk(daemon.address, ["snapshots", "rm", key]);
      await ctr(daemon.address, ["content", "rm", digest]);
      for (const l of parseTable((await ctrOk(daemon.address, ["leases", "ls"])).stdout)) {
        if (l.ID) await ctrOk(daemon.address, ["leases", "rm", l.ID]);
      }
    });

    test("ctr events sees image events", async () => {
      const events = spawn("/usr/bin/ctr", ["--address", daemon.address, "events"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      events.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      try {
        await new Promise((r) => setTimeout(r, 500));
        await ctrOk(daemon.address, ["images", "pull", "--plain-http", otherRef]);
        await ctrOk(daemon.address, ["images", "rm", otherRef]);
        await waitFor(() => out.includes("/images/delete"), {
          timeoutMs: 10_000,
          what: `image events in: ${out}`,
        });
        assert.match(out, /\/images\/create/);
        assert.match(out, new RegExp(`/images/create.*${otherRef.replace(/[.]/g, "\\.")}`));
      } finally {
        events.kill("SIGKILL");
      }
    });

    test("a second pull of the same image fetches no blob", async () => {
      proxy.reset();
      await ctrOk(daemon.address, ["images", "pull", "--plain-http", ref]);
      assert.equal(proxy.blobGets, 0, "the second pull fetched blobs");
    });

    test("ctr images rm --sync then garbage collection leaves no content or snapshot", async () => {
      await ctrOk(daemon.address, ["images", "rm", "--sync", ref]);
      await waitFor(
        async () => {
          const content = parseTable((await ctrOk(daemon.address, ["content", "ls"])).stdout);
          const snaps = parseTable((await ctrOk(daemon.address, ["snapshots", "ls"])).stdout);
          return content.length === 0 && snaps.length === 0;
        },
        { timeoutMs: 20_000, what: "content and snapshots to be collected" },
      );
      const images = parseTable((await ctrOk(daemon.address, ["images", "ls"])).stdout);
      assert.equal(images.length, 0);
    });

    test("unknown images and bad references fail with containerd's errors", async () => {
      const rm = await ctr(daemon.address, ["images", "rm", "no-such-image:latest"]);
      assert.match(rm.stderr + rm.stdout, /not found/);
      const info = await ctr(daemon.address, ["content", "get", `sha256:${"0".repeat(64)}`]);
      assert.notEqual(info.exitCode, 0);
      assert.match(info.stderr, /not found/);
      const snap = await ctr(daemon.address, ["snapshots", "mounts", "/tmp", "no-such-key"]);
      assert.notEqual(snap.exitCode, 0);
      assert.match(snap.stderr, /not found|does not exist/);
    });
  });
}
