import assert from "node:assert/strict";
import { test } from "node:test";
import { PodSandboxState } from "@berth/api/cri/runtime/v1/api";
import { harness, rejectsWith } from "../testing/harness.js";
import { podSandboxStatus } from "./pod-sandbox-status.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";

test("PodSandboxStatus reports the state, the IP and the pod's metadata", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod("web", { labels: { app: "web" } });
  const { status } = await podSandboxStatus(h.cri, {
    podSandboxId: pod.meta.id.slice(0, 12),
    verbose: false,
  });
  assert.equal(status?.id, pod.meta.id);
  assert.equal(status?.state, PodSandboxState.SANDBOX_READY);
  assert.equal(status?.network?.ip, "10.88.0.2");
  assert.equal(status?.metadata?.name, "web");
  assert.deepEqual(status?.labels, { app: "web" });
  await stopPodSandbox(h.cri, { podSandboxId: pod.meta.id });
  const after = await podSandboxStatus(h.cri, { podSandboxId: pod.meta.id, verbose: false });
  assert.equal(after.status?.state, PodSandboxState.SANDBOX_NOTREADY);
});

test("verbose status adds the pid, namespace path, CNI result and the pause container's spec", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const { info } = await podSandboxStatus(h.cri, { podSandboxId: pod.meta.id, verbose: true });
  const parsed = JSON.parse(info.info ?? "{}");
  assert.equal(parsed.pid, pod.pid);
  assert.equal(parsed.processStatus, "running");
  assert.equal(parsed.netnsPath, pod.meta.netnsPath);
  assert.deepEqual(parsed.cniResult.ips, [{ address: "10.88.0.2/16", interface: 0 }]);
  assert.deepEqual(parsed.runtimeSpec.process.args, ["/pause"]);
  assert.equal(parsed.runtimeType, h.cri.config.containerd.runtime);
});

test("PodSandboxStatus of an unknown pod is NotFound", async (t) => {
  const h = await harness(t);
  await rejectsWith(
    podSandboxStatus(h.cri, { podSandboxId: "nope", verbose: false }),
    "NotFound",
    /not found/,
  );
});
