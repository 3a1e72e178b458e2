import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readRootfsFile, rootfsLayers } from "./rootfs.js";

describe("reading a rootfs through its snapshot mounts", () => {
  let dir = "";
  let upper = "";
  let lower1 = "";
  let lower2 = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-rootfs-"));
    [upper, lower1, lower2] = ["upper", "l1", "l2"].map((d) => join(dir, d)) as [string, string, string];
    for (const d of [upper, lower1, lower2]) await mkdir(join(d, "etc"), { recursive: true });
    await writeFile(join(lower2, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    await writeFile(join(lower2, "etc/group"), "old\n");
    await writeFile(join(lower1, "etc/group"), "new\n");
    await writeFile(join(lower2, "etc/hosts"), "gone\n");
    await writeFile(join(lower1, "etc/.wh.hosts"), "");
    await writeFile(join(lower2, "etc/real-shadow"), "secret\n");
    await symlink("real-shadow", join(upper, "etc/shadow"));
    await symlink("/etc/passwd", join(upper, "etc/abs"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const overlay = () => [
    {
      type: "overlay",
      source: "overlay",
      target: "",
      options: [`workdir=${dir}/work`, `upperdir=${upper}`, `lowerdir=${lower1}:${lower2}`],
    },
  ];

  test("an overlay's layers, topmost first; a bind mount's source", () => {
    assert.deepEqual(rootfsLayers(overlay()), [upper, lower1, lower2]);
    assert.deepEqual(rootfsLayers([{ type: "bind", source: "/x", target: "", options: ["rbind", "rw"] }]), [
      "/x",
    ]);
    assert.deepEqual(rootfsLayers([]), []);
  });

  test("the topmost copy wins, whiteouts hide, symbolic links resolve inside the rootfs", async () => {
    assert.equal(await readRootfsFile(overlay(), "/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    assert.equal(await readRootfsFile(overlay(), "/etc/group"), "new\n");
    assert.equal(await readRootfsFile(overlay(), "/etc/hosts"), undefined);
    assert.equal(await readRootfsFile(overlay(), "/etc/shadow"), "secret\n");
    assert.equal(await readRootfsFile(overlay(), "/etc/abs"), "root:x:0:0::/root:/bin/sh\n");
    assert.equal(await readRootfsFile(overlay(), "/etc/none"), undefined);
  });

  test("a character device 0/0 is an overlay whiteout", async (t) => {
    try {
      execFileSync("mknod", [join(upper, "etc/passwd"), "c", "0", "0"]);
    } catch {
      t.skip("mknod needs root");
      return;
    }
    assert.equal(await readRootfsFile(overlay(), "/etc/passwd"), undefined);
  });
});
