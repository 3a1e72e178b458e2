import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MS_BIND, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC } from "../sys/mount.js";
import { mountAll, readonlyMounts, unmountAll, withTempMount } from "./mount-all.js";
import type { Mount } from "./mount.js";
import { parseMountOptions } from "./options.js";

function isMountPoint(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4] === path);
}

describe("parseMountOptions", () => {
  it("splits flags, propagation and filesystem data", () => {
    const parsed = parseMountOptions(["rbind", "ro", "nosuid", "nodev", "rprivate", "size=64k", "mode=755"]);
    assert.equal(parsed.flags, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV);
    assert.equal(parsed.propagation, MS_PRIVATE | MS_REC);
    assert.deepEqual(parsed.data, ["size=64k", "mode=755"]);
  });

  it("lets a later word undo an earlier one", () => {
    assert.equal(parseMountOptions(["ro", "rw"]).flags, 0);
    assert.equal(parseMountOptions(["nosuid", "suid", "bind"]).flags, MS_BIND);
    assert.equal(parseMountOptions(["defaults"]).flags, 0);
  });

  it("refuses loop devices", () => {
    assert.throws(() => parseMountOptions(["loop"]), { kind: "NotImplemented" });
  });
});

describe("readonlyMounts", () => {
  it("turns an overlay's upper into its top lower, or a lone upper into a read-only bind", () => {
    const [withLowers] = readonlyMounts([
      {
        type: "overlay",
        source: "overlay",
        options: ["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b"],
      },
    ]);
    assert.deepEqual(withLowers?.options, ["index=off", "lowerdir=/u:/a:/b", "ro"]);
    const [lone] = readonlyMounts([
      { type: "overlay", source: "overlay", options: ["workdir=/w", "upperdir=/u"] },
    ]);
    assert.deepEqual(lone, { type: "bind", source: "/u", options: ["ro", "rbind"] });
    const [bind] = readonlyMounts([{ type: "bind", source: "/s", options: ["rbind", "rw"] }]);
    assert.deepEqual(bind?.options, ["rbind", "ro"]);
  });
});

describe("mountAll", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync("/var/tmp/berth-mount-");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("bind mounts read-only and unmounts everything stacked", async () => {
    const src = join(dir, "bind-src");
    const dst = join(dir, "bind-dst");
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, "f"), "data");
    const m: Mount = { type: "bind", source: src, options: ["rbind", "ro"] };
    await mountAll([m, m], dst);
    try {
      assert.equal(readFileSync(join(dst, "f"), "utf8"), "data");
      assert.throws(() => writeFileSync(join(dst, "g"), "x"), /EROFS/);
    } finally {
      unmountAll(dst);
    }
    assert.ok(!isMountPoint(dst));
    unmountAll(dst);
    unmountAll(join(dir, "missing"));
  });

  it("mounts an overlay of lowers with a writable upper", async () => {
    const base = join(dir, "ovl");
    for (const d of ["l1", "l2", "upper", "work", "merged"]) mkdirSync(join(base, d), { recursive: true });
    writeFileSync(join(base, "l1", "top"), "l1");
    writeFileSync(join(base, "l2", "top"), "l2");
    writeFileSync(join(base, "l2", "bottom"), "l2");
    const m: Mount = {
      type: "overlay",
      source: "overlay",
      options: [
        `workdir=${join(base, "work")}`,
        `upperdir=${join(base, "upper")}`,
        `lowerdir=${join(base, "l1")}:${join(base, "l2")}`,
      ],
    };
    const merged = join(base, "merged");
    await mountAll([m], merged);
    try {
      assert.equal(readFileSync(join(merged, "top"), "utf8"), "l1");
      assert.equal(readFileSync(join(merged, "bottom"), "utf8"), "l2");
      writeFileSync(join(merged, "new"), "n");
    } finally {
      unmountAll(merged);
    }
    assert.equal(readFileSync(join(base, "upper", "new"), "utf8"), "n");

    await withTempMount(readonlyMounts([m]), async (root) => {
      assert.equal(readFileSync(join(root, "new"), "utf8"), "n");
      assert.equal(readFileSync(join(root, "bottom"), "utf8"), "l2");
      assert.throws(() => writeFileSync(join(root, "nope"), "x"), /EROFS/);
    });
  });

  it("mounts an overlay whose lowerdir list is longer than a page", async () => {
    // Deep root, short numeric ids: the shape of a snapshotter's directories.
    const base = join(dir, "long", "a-rather-long-directory-name-to-fill-the-page".repeat(2), "snapshots");
    const lowers: string[] = [];
    for (let i = 0; i < 120; i++) {
      const lower = join(base, String(i), "fs");
      mkdirSync(lower, { recursive: true });
      writeFileSync(join(lower, `layer-${i}`), String(i));
      lowers.push(lower);
    }
    writeFileSync(join(lowers[0]!, "layer-119"), "shadowed");
    const option = `lowerdir=${lowers.join(":")}`;
    assert.ok(option.length > 4096);
    const m: Mount = { type: "overlay", source: "overlay", options: [option] };
    await withTempMount(
      [m],
      async (root) => {
        assert.equal(readdirSync(root).length, 120);
        assert.equal(readFileSync(join(root, "layer-0"), "utf8"), "0");
        assert.equal(readFileSync(join(root, "layer-119"), "utf8"), "shadowed");
        assert.equal(readFileSync(join(root, "layer-118"), "utf8"), "118");
      },
      { parent: dir },
    );
  });

  it("withTempMount unmounts and removes its directory even when fn throws", async () => {
    const src = join(dir, "temp-src");
    mkdirSync(src);
    writeFileSync(join(src, "keep"), "me");
    let seen = "";
    await assert.rejects(
      withTempMount(
        [{ type: "bind", source: src, options: ["rbind", "rw"] }],
        async (root) => {
          seen = root;
          assert.ok(isMountPoint(root));
          throw new Error("inside");
        },
        { parent: dir },
      ),
      /inside/,
    );
    assert.ok(seen !== "");
    assert.ok(!existsSync(seen));
    assert.equal(readFileSync(join(src, "keep"), "utf8"), "me");
  });

  it("rolls back what it mounted when a later mount fails", async () => {
    const src = join(dir, "rollback-src");
    const dst = join(dir, "rollback-dst");
    mkdirSync(src);
    mkdirSync(dst);
    await assert.rejects(
      mountAll(
        [
          { type: "bind", source: src, options: ["rbind"] },
          { type: "bind", source: join(dir, "does-not-exist"), options: ["rbind"] },
        ],
        dst,
      ),
      /mount .*does-not-exist on .*rollback-dst \(bind\): ENOENT/,
    );
    assert.ok(!isMountPoint(dst));
  });
});
