import assert from "node:assert/strict";
import { test } from "node:test";
import { containerState } from "../store/stores.js";
import { harness, rejectsWith } from "../testing/harness.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";

test("StopPodSandbox stops the containers and the pause task, then takes the network down", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const c = await h.runContainer(pod);
  const [add] = h.cni.calls;
  await stopPodSandbox(h.cri, { podSandboxId: pod.meta.id });
  assert.equal(containerState(c), "exited");
  assert.equal(pod.state, "notready");
  assert.equal(pod.pid, 0);
  assert.equal(h.daemon.taskTable.has(pod.meta.id), false, "the pause task is deleted");
  const del = h.cni.calls.at(-1);
  assert.equal(del?.op, "DEL");
  assert.deepEqual(del?.attachment, add?.attachment);
  assert.ok(del?.prevResult, "DEL gets the result ADD returned");
  assert.equal(h.netns.pinned.size, 0);
  assert.deepEqual(h.podFiles.unmounted, [pod.meta.shmPath]);
  assert.equal(h.daemon.records.has(pod.meta.id), true, "the pod is stopped, not removed");
});

test("StopPodSandbox again is harmless; an unknown pod is NotFound", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  await stopPodSandbox(h.cri, { podSandboxId: pod.meta.id });
  await stopPodSandbox(h.cri, { podSandboxId: pod.meta.id });
  assert.equal(pod.state, "notready");
  assert.equal(h.daemon.calls.filter((c) => c.startsWith(`tasks.kill ${pod.meta.id}`)).length, 1);
  await rejectsWith(stopPodSandbox(h.cri, { podSandboxId: "nope" }), "NotFound", /sandbox "nope" not found/);
});
