import assert from "node:assert/strict";
import { test } from "node:test";
import { BerthError } from "@berth/client";
import { harness } from "../testing/harness.js";
import { status } from "./status.js";

const condition = (r: Awaited<ReturnType<typeof status>>, type: string) =>
  r.status?.conditions.find((c) => c.type === type);

test("Status is ready when the daemon answers and CNI has a config", async (t) => {
  const h = await harness(t);
  const r = await status(h.cri, { verbose: false });
  assert.deepEqual(condition(r, "RuntimeReady"), {
    type: "RuntimeReady",
    status: true,
    reason: "",
    message: "",
  });
  assert.equal(condition(r, "NetworkReady")?.status, true);
  assert.deepEqual(r.info, {});
});

test("Status says why the runtime or the network is not ready", async (t) => {
  const h = await harness(t);
  h.daemon.down = new BerthError("Unavailable", "connect ENOENT /run/fake/daemon.sock");
  h.cni.state = {
    ready: false,
    reason: "NetworkPluginNotReady",
    message: "no network config in /etc/cni/net.d",
  };
  const r = await status(h.cri, { verbose: true });
  const runtime = condition(r, "RuntimeReady");
  assert.equal(runtime?.status, false);
  assert.equal(runtime?.reason, "ContainerdUnavailable");
  assert.match(runtime?.message ?? "", /the daemon at \/run\/fake\/daemon.sock does not answer: .*ENOENT/);
  assert.deepEqual(condition(r, "NetworkReady"), {
    type: "NetworkReady",
    status: false,
    reason: "NetworkPluginNotReady",
    message: "no network config in /etc/cni/net.d",
  });
  assert.equal(r.info.lastCNILoadStatus, "no network config in /etc/cni/net.d");
});

test("verbose Status shows the config without registry passwords", async (t) => {
  const h = await harness(t, {
    registry: { auth: { "reg.example": { username: "me", password: "s3cret" } } },
  });
  const { info } = await status(h.cri, { verbose: true });
  assert.doesNotMatch(info.config ?? "", /s3cret/);
  assert.deepEqual(JSON.parse(info.config ?? "{}").registry.auth, {
    "reg.example": { username: "me", password: "<redacted>" },
  });
  assert.equal(info.lastCNILoadStatus, "OK");
});
