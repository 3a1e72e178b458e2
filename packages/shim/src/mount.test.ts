import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compactOverlayData, parseMountOptions } from "./mount.js";

describe("rootfs mount options", () => {
  it("splits flags, propagation and filesystem data", () => {
    const p = parseMountOptions(["ro", "rbind", "nosuid", "rprivate", "index=off", "lowerdir=/a:/b"]);
    assert.equal(p.flags, 0x1 | 0x1000 | 0x4000 | 0x2);
    assert.equal(p.propagation, 0x40000 | 0x4000);
    assert.deepEqual(p.data, ["index=off", "lowerdir=/a:/b"]);
    assert.equal(parseMountOptions(["ro", "rw"]).flags, 0);
  });

  it("shortens overlay data beyond a page by making paths relative to a common parent", () => {
    const lower = Array.from({ length: 200 }, (_, i) => `/var/lib/x/snapshots/${i + 1000}/fs`);
    const data = [
      "index=off",
      "workdir=/var/lib/x/snapshots/9/work",
      "upperdir=/var/lib/x/snapshots/9/fs",
      `lowerdir=${lower.join(":")}`,
    ];
    const out = compactOverlayData(data);
    assert.equal(out.chdir, "/var/lib/x/snapshots");
    assert.deepEqual(out.data.slice(0, 3), ["index=off", "workdir=9/work", "upperdir=9/fs"]);
    assert.ok(out.data.join(",").length < 4096);
    assert.deepEqual(compactOverlayData(["lowerdir=/a:/b"]), { data: ["lowerdir=/a:/b"] });
  });
});
