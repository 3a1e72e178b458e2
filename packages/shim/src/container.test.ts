import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { clampOomScoreAdj, removeSpecCgroups, sharesHostPidNamespace } from "./container.js";

describe("clampOomScoreAdj", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-oom-adj-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (process: Record<string, unknown>) =>
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ociVersion: "1.0.2", process }));
  const read = () =>
    JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { process: Record<string, unknown> };

  it("raises a score below the shim's own to the shim's", async () => {
    write({ oomScoreAdj: -999, args: ["sh"] });
    assert.equal(await clampOomScoreAdj(dir, -500), true);
    assert.equal(read().process.oomScoreAdj, -500);
    assert.deepEqual(read().process.args, ["sh"]);
  });

  it("leaves higher or absent scores alone", async () => {
    write({ oomScoreAdj: 100 });
    assert.equal(await clampOomScoreAdj(dir, 0), false);
    assert.equal(read().process.oomScoreAdj, 100);
    write({});
    assert.equal(await clampOomScoreAdj(dir, 0), false);
  });
});

describe("sharesHostPidNamespace", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-pidns-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const check = (namespaces: unknown[]) => {
    writeFileSync(join(dir, "config.json"), JSON.stringify({ linux: { namespaces } }));
    return sharesHostPidNamespace(dir);
  };

  it("is true without a new pid namespace, or when joining another's", async () => {
    assert.equal(await check([{ type: "pid" }, { type: "mount" }]), false);
    assert.equal(await check([{ type: "mount" }]), true);
    assert.equal(await check([{ type: "pid", path: "/proc/1/ns/pid" }]), true);
  });
});

describe("removeSpecCgroups", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-cgroups-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, "cgroup");
  const bundle = join(dir, "bundle");
  mkdirSync(bundle);
  const spec = (cgroupsPath: string) =>
    writeFileSync(join(bundle, "config.json"), JSON.stringify({ linux: { cgroupsPath } }));

  it("removes the container's empty cgroup in every hierarchy, not its parent nor a busy one", async () => {
    for (const h of ["cpu", "memory", "pids"]) mkdirSync(join(root, h, "pod", "c1"), { recursive: true });
    // A cgroup holding a child stands for one that still has tasks: rmdir fails on it.
    mkdirSync(join(root, "pids", "pod", "c1", "child"));
    spec("/pod/c1");
    await removeSpecCgroups(bundle, root);
    assert.equal(existsSync(join(root, "cpu", "pod", "c1")), false);
    assert.equal(existsSync(join(root, "memory", "pod", "c1")), false);
    assert.equal(existsSync(join(root, "pids", "pod", "c1")), true);
    assert.equal(existsSync(join(root, "cpu", "pod")), true);
  });

  it("leaves relative paths, `..` and specs without a cgroup alone", async () => {
    mkdirSync(join(root, "cpu", "rel"), { recursive: true });
    spec("rel");
    await removeSpecCgroups(bundle, root);
    spec("/../cpu/rel");
    await removeSpecCgroups(bundle, root);
    writeFileSync(join(bundle, "config.json"), "{}");
    await removeSpecCgroups(bundle, root);
    assert.equal(existsSync(join(root, "cpu", "rel")), true);
  });
});
