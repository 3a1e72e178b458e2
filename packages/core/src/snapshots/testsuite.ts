import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { withTempMount } from "../mount/mount-all.js";
import type { Mount } from "../mount/mount.js";
import type { SnapshotInfo, Snapshotter } from "./snapshotter.js";

// The behaviour every Snapshotter in this folder must show, run against each of them.
// The tests mount for real, so they need root.

export interface SnapshotterSuiteOptions {
  /** Opens the snapshotter kept under `root` (called again on the same root to reopen). */
  open(root: string): Promise<Snapshotter>;
  /** Whether snapshot directories live at <root>/snapshots/<id> (crash and cleanup tests). */
  directoryLayout: boolean;
}

function kind(expected: string) {
  return (err: unknown) => {
    assert.equal((err as { kind?: string }).kind, expected, String(err));
    return true;
  };
}

function inMount<T>(mounts: Mount[], fn: (root: string) => T | Promise<T>): Promise<T> {
  return withTempMount(mounts, async (root) => fn(root), { parent: "/var/tmp" });
}

const summary = (infos: SnapshotInfo[]) =>
  infos
    .map((i) => ({ name: i.name, kind: i.kind, parent: i.parent, labels: i.labels }))
    .sort((a, b) => a.name.localeCompare(b.name));

export function snapshotterSuite(name: string, options: SnapshotterSuiteOptions): void {
  describe(`Snapshotter conformance: ${name}`, () => {
    let root = "";
    let sn: Snapshotter;
    before(async () => {
      root = mkdtempSync("/var/tmp/berth-snapshots-");
      sn = await options.open(root);
    });
    after(async () => {
      await sn.close();
      rmSync(root, { recursive: true, force: true });
    });

    it("builds a chain: prepare, write, commit, and a child sees its parent's files", async () => {
      await inMount(await sn.prepare("base-active", ""), (dir) => {
        writeFileSync(join(dir, "hello"), "one");
        mkdirSync(join(dir, "etc"));
        writeFileSync(join(dir, "etc", "config"), "cfg");
        symlinkSync("etc/config", join(dir, "link"));
      });
      await sn.commit("base", "base-active");
      const base = await sn.stat("base");
      assert.equal(base.kind, "committed");
      assert.equal(base.parent, "");
      await assert.rejects(sn.stat("base-active"), kind("NotFound"));

      await inMount(await sn.prepare("layer-active", "base"), (dir) => {
        assert.equal(readFileSync(join(dir, "hello"), "utf8"), "one");
        assert.equal(readFileSync(join(dir, "link"), "utf8"), "cfg");
        writeFileSync(join(dir, "hello"), "two");
        rmSync(join(dir, "etc", "config"));
        writeFileSync(join(dir, "new"), "new");
      });
      await sn.commit("layer", "layer-active");
      assert.equal((await sn.stat("layer")).parent, "base");

      await inMount(await sn.prepare("top-active", "layer"), (dir) => {
        assert.equal(readFileSync(join(dir, "hello"), "utf8"), "two");
        assert.ok(!existsSync(join(dir, "etc", "config")));
        assert.equal(readFileSync(join(dir, "new"), "utf8"), "new");
        writeFileSync(join(dir, "top"), "top");
      });
      // Mounting again shows what the previous mount wrote.
      await inMount(await sn.mounts("top-active"), (dir) => {
        assert.equal(readFileSync(join(dir, "top"), "utf8"), "top");
      });
      const kinds = Object.fromEntries((await sn.list()).map((i) => [i.name, i.kind]));
      assert.deepEqual(kinds, { base: "committed", layer: "committed", "top-active": "active" });
    });

    it("gives read-only views", async () => {
      await inMount(await sn.view("view-layer", "layer"), (dir) => {
        assert.equal(readFileSync(join(dir, "hello"), "utf8"), "two");
        assert.ok(!existsSync(join(dir, "etc", "config")));
        assert.throws(() => writeFileSync(join(dir, "nope"), "x"), /EROFS/);
      });
      await inMount(await sn.view("view-base", "base"), (dir) => {
        assert.equal(readFileSync(join(dir, "hello"), "utf8"), "one");
        assert.throws(() => writeFileSync(join(dir, "hello"), "x"), /EROFS/);
      });
      await inMount(await sn.view("view-empty", ""), (dir) => {
        assert.deepEqual(readdirSync(dir), []);
        assert.throws(() => writeFileSync(join(dir, "nope"), "x"), /EROFS/);
      });
      assert.equal((await sn.stat("view-layer")).kind, "view");
      assert.equal((await sn.stat("view-layer")).parent, "layer");
    });

    it("checks kinds and names as containerd does", async () => {
      await assert.rejects(sn.commit("again", "base"), kind("FailedPrecondition"));
      await assert.rejects(sn.commit("again", "view-base"), kind("FailedPrecondition"));
      await assert.rejects(sn.commit("again", "missing"), kind("NotFound"));
      await sn.prepare("taken-active", "base");
      await assert.rejects(sn.commit("layer", "taken-active"), kind("AlreadyExists"));
      assert.equal((await sn.stat("taken-active")).kind, "active");
      await assert.rejects(sn.prepare("taken-active", ""), kind("AlreadyExists"));
      await assert.rejects(sn.view("base", "layer"), kind("AlreadyExists"));
      await assert.rejects(sn.prepare("orphan", "missing"), kind("NotFound"));
      await assert.rejects(sn.prepare("on-active", "taken-active"), kind("InvalidArgument"));
      await assert.rejects(sn.mounts("base"), kind("FailedPrecondition"));
      await assert.rejects(sn.mounts("missing"), kind("NotFound"));
      await assert.rejects(sn.stat("missing"), kind("NotFound"));
      await assert.rejects(sn.usage("missing"), kind("NotFound"));
      await assert.rejects(sn.remove("missing"), kind("NotFound"));
      await sn.remove("taken-active");
    });

    it("refuses to remove a snapshot with children", async () => {
      await assert.rejects(sn.remove("base"), kind("FailedPrecondition"));
      await assert.rejects(sn.remove("layer"), kind("FailedPrecondition"));
      await sn.prepare("leaf-parent-active", "");
      await sn.commit("leaf-parent", "leaf-parent-active");
      await sn.prepare("leaf", "leaf-parent");
      await assert.rejects(sn.remove("leaf-parent"), kind("FailedPrecondition"));
      await sn.remove("leaf");
      await sn.remove("leaf-parent");
      await assert.rejects(sn.stat("leaf-parent"), kind("NotFound"));
    });

    it("updates labels, all or by fieldpath", async () => {
      await sn.prepare("labelled", "", { labels: { a: "1", b: "2" } });
      assert.deepEqual((await sn.stat("labelled")).labels, { a: "1", b: "2" });
      const before = (await sn.stat("labelled")).updatedAt;
      await new Promise((r) => setTimeout(r, 5));
      let info = await sn.update({ name: "labelled", labels: { c: "3" } });
      assert.deepEqual(info.labels, { c: "3" });
      assert.ok(info.updatedAt > before);
      info = await sn.update({ name: "labelled", labels: { a: "9", c: "ignored" } }, ["labels.a"]);
      assert.deepEqual(info.labels, { c: "3", a: "9" });
      info = await sn.update({ name: "labelled", labels: {} }, ["labels.c"]);
      assert.deepEqual(info.labels, { a: "9" });
      await assert.rejects(sn.update({ name: "labelled", labels: {} }, ["kind"]), kind("InvalidArgument"));
      await assert.rejects(sn.update({ name: "missing", labels: {} }), kind("NotFound"));
      assert.deepEqual((await sn.stat("labelled")).labels, { a: "9" });
      await sn.commit("labelled-committed", "labelled", { labels: { fresh: "yes" } });
      assert.deepEqual((await sn.stat("labelled-committed")).labels, { fresh: "yes" });
    });

    it("reports usage of active and committed snapshots", async () => {
      await inMount(await sn.prepare("usage-active", "base"), (dir) => {
        writeFileSync(join(dir, "blob"), Buffer.alloc(256 * 1024, 1));
      });
      const active = await sn.usage("usage-active");
      assert.ok(active.size >= 256 * 1024, `size ${active.size}`);
      assert.ok(active.inodes >= 2);
      await sn.commit("usage", "usage-active");
      const committed = await sn.usage("usage");
      assert.ok(committed.size >= 256 * 1024);
      assert.ok(committed.inodes >= 2);
    });

    it("keeps its metadata across a restart", async () => {
      const listing = summary(await sn.list());
      const mounts = await sn.mounts("view-layer");
      await sn.close();
      sn = await options.open(root);
      assert.deepEqual(summary(await sn.list()), listing);
      assert.deepEqual(await sn.mounts("view-layer"), mounts);
      await inMount(mounts, (dir) => assert.equal(readFileSync(join(dir, "hello"), "utf8"), "two"));
    });

    // Only where the suite knows where snapshot directories are (not through a layer above).
    if (options.directoryLayout)
      it("cleans up directories left by a crash, and works around them", async () => {
        const dir = join(root, "snapshots");
        const before = readdirSync(dir).sort();
        const nextId = Math.max(...before.map(Number).filter(Number.isInteger)) + 1;
        // A crash after the directory was renamed into place but before the metadata
        // committed leaves a directory under the next id; one before the rename leaves a
        // staging directory; one during removal leaves an rm- directory.
        for (const orphan of [String(nextId), "new-crashed", "rm-77", "999"]) {
          mkdirSync(join(dir, orphan, "fs"), { recursive: true });
          writeFileSync(join(dir, orphan, "fs", "junk"), "junk");
        }
        const listing = summary(await sn.list());
        await sn.prepare("after-crash", "base");
        assert.ok(existsSync(join(dir, String(nextId), "fs", "junk")));
        await sn.cleanup();
        const after = readdirSync(dir).sort();
        for (const orphan of [String(nextId), "new-crashed", "rm-77", "999"])
          assert.ok(!after.includes(orphan), orphan);
        assert.equal(after.length, before.length + 1);
        assert.deepEqual(
          summary(await sn.list()).filter((s) => s.name !== "after-crash"),
          listing,
        );
        await inMount(await sn.mounts("after-crash"), (d) =>
          assert.equal(readFileSync(join(d, "hello"), "utf8"), "one"),
        );
      });
  });
}
