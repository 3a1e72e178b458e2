import assert from "node:assert/strict";
import { test } from "node:test";
import { harness, rejectsWith } from "../testing/harness.js";
import { portForward } from "./port-forward.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";

test("PortForward to a ready pod returns a streaming URL for the full pod ID", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const { streaming } = h;
  const { url } = await portForward(h.cri, streaming, {
    podSandboxId: pod.meta.id.slice(0, 5),
    port: [80, 8080],
  });
  assert.match(url, /\/portforward\/token1$/);
  assert.deepEqual(streaming.requests, [
    { kind: "portforward", request: { podSandboxId: pod.meta.id, port: [80, 8080] } },
  ]);
});

test("PortForward refuses bad ports, unknown pods and pods that are not ready", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const { streaming } = h;
  const podSandboxId = pod.meta.id;
  await rejectsWith(
    portForward(h.cri, streaming, { podSandboxId: "", port: [] }),
    "InvalidArgument",
    /pod_sandbox_id/,
  );
  for (const port of [0, 65536, 1.5]) {
    await rejectsWith(
      portForward(h.cri, streaming, { podSandboxId, port: [port] }),
      "InvalidArgument",
      /invalid port/,
    );
  }
  await rejectsWith(
    portForward(h.cri, streaming, { podSandboxId: "nope", port: [80] }),
    "NotFound",
    /not found/,
  );
  await stopPodSandbox(h.cri, { podSandboxId });
  await rejectsWith(
    portForward(h.cri, streaming, { podSandboxId, port: [80] }),
    "FailedPrecondition",
    /is not ready: cannot forward ports/,
  );
});
