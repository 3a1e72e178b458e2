import assert from "node:assert/strict";
import { chownSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { withTempMount } from "../mount/mount-all.js";
import { major, minor } from "../sys/device.js";
import { OverlaySnapshotter } from "./overlay.js";
import { snapshotterSuite } from "./testsuite.js";

snapshotterSuite("OverlaySnapshotter", {
  open: (root) => OverlaySnapshotter.open(root),
  directoryLayout: true,
});

describe("OverlaySnapshotter mounts", () => {
  let root = "";
  let sn: OverlaySnapshotter;
  before(async () => {
    root = mkdtempSync("/var/tmp/berth-overlay-");
    sn = await OverlaySnapshotter.open(root);
  });
  after(async () => {
    await sn.close();
    rmSync(root, { recursive: true, force: true });
  });

  const fs = (id: number) => join(root, "snapshots", String(id), "fs");
  const work = (id: number) => join(root, "snapshots", String(id), "work");
  const index = (options: string[]) => options.filter((o) => o === "index=off");

  it("shapes mounts as containerd's overlayfs snapshotter does", async () => {
    const first = await sn.prepare("a", "");
    assert.deepEqual(first, [{ type: "bind", source: fs(1), options: ["rw", "rbind"] }]);
    // The merged root takes the parent's owner.
    chownSync(fs(1), 1000, 1001);
    await sn.commit("A", "a");

    const view1 = await sn.view("v1", "A");
    assert.deepEqual(view1, [{ type: "bind", source: fs(1), options: ["ro", "rbind"] }]);

    const second = await sn.prepare("b", "A");
    const opts = second[0]?.options ?? [];
    assert.deepEqual(second, [
      {
        type: "overlay",
        source: "overlay",
        options: [...index(opts), `workdir=${work(3)}`, `upperdir=${fs(3)}`, `lowerdir=${fs(1)}`],
      },
    ]);
    assert.equal(lstatSync(fs(3)).uid, 1000);
    assert.equal(lstatSync(fs(3)).gid, 1001);
    await sn.commit("B", "b");

    const third = await sn.prepare("c", "B");
    assert.deepEqual(third[0]?.options.slice(-3), [
      `workdir=${work(4)}`,
      `upperdir=${fs(4)}`,
      `lowerdir=${fs(3)}:${fs(1)}`,
    ]);

    const view2 = await sn.view("v2", "B");
    assert.deepEqual(view2, [
      { type: "overlay", source: "overlay", options: [...index(opts), `lowerdir=${fs(3)}:${fs(1)}`] },
    ]);
  });

  it("records deletions in the upper as overlay whiteouts", async () => {
    await withTempMount(await sn.prepare("w", ""), async (dir) => writeFileSync(join(dir, "doomed"), "x"));
    await sn.commit("W", "w");
    await withTempMount(await sn.prepare("w2", "W"), async (dir) => rmSync(join(dir, "doomed")));
    const upper = (await sn.mounts("w2"))[0]?.options.find((o) => o.startsWith("upperdir="))?.slice(9) ?? "";
    const st = lstatSync(join(upper, "doomed"));
    assert.ok(st.isCharacterDevice());
    assert.equal(major(st.rdev), 0);
    assert.equal(minor(st.rdev), 0);
    assert.equal(readFileSync("/proc/filesystems", "utf8").includes("overlay"), true);
  });
});
