import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { withTempMount } from "../mount/mount-all.js";
import { S_IFCHR, S_IFIFO, major, makedev, minor, mknod } from "../sys/device.js";
import { lutimesNs } from "../sys/time.js";
import { lgetxattr, lsetxattr } from "../sys/xattr.js";
import { NativeSnapshotter } from "./native.js";
import { snapshotterSuite } from "./testsuite.js";

snapshotterSuite("NativeSnapshotter", {
  open: (root) => NativeSnapshotter.open(root),
  directoryLayout: true,
});

describe("NativeSnapshotter copies", () => {
  let root = "";
  let sn: NativeSnapshotter;
  before(async () => {
    root = mkdtempSync("/var/tmp/berth-native-");
    sn = await NativeSnapshotter.open(root);
  });
  after(async () => {
    await sn.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("hands out bind mounts of its own directory", async () => {
    const mounts = await sn.prepare("plain", "");
    assert.deepEqual(mounts, [
      { type: "bind", source: join(root, "snapshots", "1", "fs"), options: ["rw", "rbind"] },
    ]);
  });

  it("keeps modes, owners, links, devices, xattrs and times in a child", async () => {
    await withTempMount(await sn.prepare("rich", ""), async (dir) => {
      writeFileSync(join(dir, "suid"), "#!/bin/sh\n");
      chownSync(join(dir, "suid"), 1234, 5678);
      chmodSync(join(dir, "suid"), 0o4755);
      writeFileSync(join(dir, "a"), "shared");
      linkSync(join(dir, "a"), join(dir, "b"));
      symlinkSync("/etc/passwd", join(dir, "abs-link"));
      mkdirSync(join(dir, "tmp"));
      chmodSync(join(dir, "tmp"), 0o1777);
      mknod(join(dir, "null"), S_IFCHR | 0o666, makedev(1, 3));
      mknod(join(dir, "fifo"), S_IFIFO | 0o640);
      lsetxattr(join(dir, "a"), "user.berth", Buffer.from([0, 1, 0xff]));
      lsetxattr(join(dir, "abs-link"), "trusted.berth", Buffer.from("link"));
      lutimesNs(join(dir, "a"), 1_000_000_000_123_456_789n, 1_100_000_000_987_654_321n);
      lutimesNs(join(dir, "tmp"), 0n, 1_200_000_000_000_000_001n);
    });
    await sn.commit("rich-base", "rich");
    const [m] = await sn.prepare("rich-child", "rich-base");
    const src = join(root, "snapshots", "2", "fs");
    const dst = m?.source ?? "";
    assert.notEqual(dst, src);
    for (const name of ["suid", "a", "b", "abs-link", "tmp", "null", "fifo"]) {
      const a = lstatSync(join(src, name), { bigint: true });
      const b = lstatSync(join(dst, name), { bigint: true });
      assert.equal(b.mode, a.mode, name);
      assert.equal(b.uid, a.uid, name);
      assert.equal(b.gid, a.gid, name);
      assert.equal(b.mtimeNs, a.mtimeNs, name);
      assert.equal(b.rdev, a.rdev, name);
    }
    assert.equal(lstatSync(join(dst, "suid")).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(join(dst, "suid")).uid, 1234);
    assert.equal(lstatSync(join(dst, "a")).ino, lstatSync(join(dst, "b")).ino);
    assert.notEqual(lstatSync(join(dst, "a")).ino, lstatSync(join(src, "a")).ino);
    assert.equal(readlinkSync(join(dst, "abs-link")), "/etc/passwd");
    assert.equal(major(lstatSync(join(dst, "null")).rdev), 1);
    assert.equal(minor(lstatSync(join(dst, "null")).rdev), 3);
    assert.ok(lstatSync(join(dst, "fifo")).isFIFO());
    assert.deepEqual(lgetxattr(join(dst, "a"), "user.berth"), Buffer.from([0, 1, 0xff]));
    assert.equal(lgetxattr(join(dst, "abs-link"), "trusted.berth")?.toString(), "link");
    assert.equal(lstatSync(join(dst, "tmp"), { bigint: true }).mtimeNs, 1_200_000_000_000_000_001n);
    // Writing to the child leaves the parent alone.
    writeFileSync(join(dst, "a"), "changed");
    assert.equal(readFileSync(join(src, "a"), "utf8"), "shared");
  });
});
