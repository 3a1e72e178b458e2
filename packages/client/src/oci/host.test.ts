import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isKind } from "../errdefs.js";
import { deviceFromPath, nodeHost } from "./host.js";

describe("the real node", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-host-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("device nodes: type, numbers, mode", () => {
    const dev = deviceFromPath("/dev/null");
    assert.deepEqual(
      { type: dev?.type, major: dev?.major, minor: dev?.minor },
      { type: "c", major: 1, minor: 3 },
    );
    assert.equal(dev?.fileMode, statSync("/dev/null").mode & 0o777);
    assert.equal(deviceFromPath("/etc/hostname"), undefined);
  });

  test("a device is named for the container, through symlinks", () => {
    const link = join(dir, "null-link");
    symlinkSync("/dev/null", link);
    assert.deepEqual(
      nodeHost.devices(link, "/dev/mynull").map((d) => [d.path, d.major, d.minor]),
      [["/dev/mynull", 1, 3]],
    );
    assert.equal(nodeHost.devices("/dev/zero", "")[0]?.path, "/dev/zero");
  });

  test("missing paths and regular files are not devices", () => {
    assert.throws(
      () => nodeHost.devices("/dev/nonexistent-berth", ""),
      (err: Error) => isKind(err, "InvalidArgument"),
    );
    const file = join(dir, "file");
    writeFileSync(file, "");
    assert.throws(() => nodeHost.devices(file, ""), /is not a character or block device/);
  });

  test("mount sources are created and resolved", () => {
    const src = join(dir, "a/b");
    assert.equal(nodeHost.prepareMountSource(src), src);
    assert.ok(existsSync(src));
    const link = join(dir, "link");
    symlinkSync(src, link);
    assert.equal(nodeHost.prepareMountSource(link), src);
  });

  test("the mount of a path", () => {
    assert.equal(nodeHost.lookupMount("/").mountpoint, "/");
    assert.equal(nodeHost.lookupMount("/proc/self").mountpoint, "/proc");
  });

  test("this process's capabilities and oom_score_adj", () => {
    const caps = nodeHost.currentCapabilities();
    assert.ok(caps.every((c) => c.startsWith("CAP_")));
    if (process.getuid?.() === 0) assert.ok(caps.includes("CAP_SYS_ADMIN"));
    const own = nodeHost.currentOomScoreAdj();
    assert.ok(Number.isInteger(own) && own >= -1000 && own <= 1000);
  });
});
