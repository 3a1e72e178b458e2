import assert from "node:assert/strict";
import { test } from "node:test";
import { harness } from "../testing/harness.js";
import { listPodSandbox } from "./list-pod-sandbox.js";
import { removePodSandbox } from "./remove-pod-sandbox.js";

test("RemovePodSandbox of a running pod stops it and removes its containers, records and files", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod("gone");
  const c = await h.runContainer(pod);
  await removePodSandbox(h.cri, { podSandboxId: pod.meta.id });
  assert.equal(h.cri.containers.find(c.meta.id), undefined);
  for (const id of [pod.meta.id, c.meta.id]) {
    assert.equal(h.daemon.records.has(id), false, `record ${id}`);
    assert.equal(h.daemon.snapshotTable.has(id), false, `snapshot ${id}`);
    assert.equal(h.daemon.taskTable.has(id), false, `task ${id}`);
  }
  assert.equal(h.podFiles.pods.has(pod.meta.id), false);
  assert.equal(h.netns.pinned.size, 0);
  assert.deepEqual((await listPodSandbox(h.cri, { filter: undefined })).items, []);
  assert.equal((await h.runPod("gone")).state, "ready", "its name is free again");
});

test("removing a pod that is gone, or twice, is no error", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  await removePodSandbox(h.cri, { podSandboxId: pod.meta.id });
  await removePodSandbox(h.cri, { podSandboxId: pod.meta.id });
  await removePodSandbox(h.cri, { podSandboxId: "never-was" });
  assert.equal(h.cri.sandboxes.list().length, 0);
});
