// The daemon is killed with SIGKILL in the middle of a pull. After a restart the pull
// completes, every blob matches its digest, and once the leases are gone garbage
// collection leaves no orphan snapshot or ingest. Run against berthd and containerd.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { contentDigest, ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { type PushedImage, buildLargeImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { waitFor } from "./fixtures/tmp.js";

for (const { kind, start } of daemonKinds) {
  describe(`${kind} killed mid-pull`, () => {
    let registry: Registry;
    let daemon: DaemonUnderTest;
    let image: PushedImage;
    before(async () => {
      registry = await startRegistry();
      image = await buildLargeImage(registry.host, "berth/crash", "v1", 60, 4);
      daemon = await start();
    });
    after(async () => {
      await daemon?.stop();
      await registry?.stop();
    });

    test("the pull completes after a restart and nothing is corrupt or orphaned", async () => {
      const pull = spawn(
        "/usr/bin/ctr",
        ["--address", daemon.address, "images", "pull", "--plain-http", image.ref],
        { stdio: "ignore" },
      );
      const pullDone = new Promise((r) => pull.on("close", r));
      // Kill once some ingest has data but before the pull is over.
      await waitFor(
        async () => {
          const active = parseTable((await ctr(daemon.address, ["content", "active"])).stdout);
          return active.some((r) => Number.parseInt(r.SIZE ?? "0", 10) > 0 || /[1-9]/.test(r.SIZE ?? ""));
        },
        { timeoutMs: 60_000, intervalMs: 20, what: "an ingest with data" },
      );
      await daemon.kill();
      await pullDone;
      await daemon.restart();

      await ctrOk(daemon.address, ["images", "pull", "--plain-http", image.ref], { timeoutMs: 300_000 });
      const rows = parseTable((await ctrOk(daemon.address, ["images", "ls"])).stdout);
      assert.ok(rows.some((r) => r.REF === image.ref));
      const content = parseTable((await ctrOk(daemon.address, ["content", "ls"])).stdout);
      for (const d of [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)]) {
        assert.ok(
          content.some((r) => r.DIGEST === d),
          `missing ${d}`,
        );
        assert.equal(await contentDigest(daemon.address, d), d, `blob ${d} is corrupt`);
      }
      const snaps = parseTable((await ctrOk(daemon.address, ["snapshots", "ls"])).stdout);
      assert.ok(snaps.some((s) => s.KEY === image.chainId && s.KIND === "Committed"));

      // Drop every lease (the killed pull's included), remove the image, collect.
      for (const l of parseTable((await ctrOk(daemon.address, ["leases", "ls"])).stdout)) {
        if (l.ID) await ctrOk(daemon.address, ["leases", "rm", l.ID]);
      }
      await ctrOk(daemon.address, ["images", "rm", "--sync", image.ref]);
      await waitFor(
        async () => {
          const c = parseTable((await ctrOk(daemon.address, ["content", "ls"])).stdout);
          const s = parseTable((await ctrOk(daemon.address, ["snapshots", "ls"])).stdout);
          const a = parseTable((await ctrOk(daemon.address, ["content", "active"])).stdout);
          return c.length === 0 && s.length === 0 && a.length === 0;
        },
        { timeoutMs: 30_000, what: "no content, snapshot or ingest left" },
      );
    });
  });
}
