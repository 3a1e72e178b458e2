import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { groupKey, socketAddress, socketPath } from "./address.js";

describe("shim socket address", () => {
  it("hashes address/namespace/group like containerd's SocketAddress", () => {
    const want = createHash("sha256").update("/run/containerd/containerd.sock/default/t1").digest("hex");
    const address = socketAddress("/run/containerd/containerd.sock", "default", "t1");
    assert.equal(address, `unix:///run/berth/s/${want}`);
    assert.equal(socketPath(address), `/run/berth/s/${want}`);
  });

  it("groups by the runc group annotation first, then the CRI sandbox id, else the id", () => {
    assert.equal(groupKey({}, "c1"), "c1");
    assert.equal(groupKey({ annotations: { "io.kubernetes.cri.sandbox-id": "pod" } }, "c1"), "pod");
    assert.equal(
      groupKey(
        { annotations: { "io.kubernetes.cri.sandbox-id": "pod", "io.containerd.runc.v2.group": "g" } },
        "c1",
      ),
      "g",
    );
    assert.equal(groupKey({ annotations: { "io.containerd.runc.v2.group": 3 } }, "c1"), "c1");
  });

  it("refuses socket paths that do not fit in sockaddr_un", () => {
    assert.throws(() => socketAddress("/a", "ns", "id", `/${"d".repeat(60)}`), /longer than/);
  });
});
