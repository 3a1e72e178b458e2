import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { joinShimCgroup } from "./start.js";

describe("joinShimCgroup", () => {
  const root = mkdtempSync(join(tmpdir(), "shim-cgroup-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const v1 = readFileSync("/proc/self/cgroup", "utf8")
    .split("\n")
    .some((l) => (l.split(":")[1] ?? "") !== "");

  it("writes the shim's pid into the named cgroup where it exists", async () => {
    // The fake cgroup tree has the cgroup in one place: the unified root, or v1's first hierarchy.
    const first = readFileSync("/proc/self/cgroup", "utf8")
      .split("\n")
      .map((l) => l.split(":")[1] ?? "")
      .find((c) => c !== "");
    const dir = v1 && first ? join(root, first.replace(/^name=/, ""), "shims") : join(root, "shims");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "cgroup.procs"), "");
    await joinShimCgroup(4242, "/shims", root);
    assert.equal(readFileSync(join(dir, "cgroup.procs"), "utf8"), "4242");
  });

  it("fails when no hierarchy has the cgroup", async () => {
    await assert.rejects(joinShimCgroup(4242, "/nowhere", root), /cgroup \/nowhere/);
  });
});
