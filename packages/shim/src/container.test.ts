import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { clampOomScoreAdj, sharesHostPidNamespace } from "./container.js";

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
