import assert from "node:assert/strict";
import { test } from "node:test";
import { harness } from "../testing/harness.js";
import { listContainers } from "./list-containers.js";
import { removeContainer } from "./remove-container.js";

test("RemoveContainer of a running container kills it and deletes its task, record and snapshot", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const c = await h.runContainer(pod, "app");
  await removeContainer(h.cri, { containerId: c.meta.id });
  assert.ok(h.daemon.calls.includes(`tasks.kill ${c.meta.id} 9`));
  assert.equal(h.daemon.taskTable.has(c.meta.id), false);
  assert.equal(h.daemon.records.has(c.meta.id), false);
  assert.equal(h.daemon.snapshotTable.has(c.meta.id), false);
  assert.deepEqual((await listContainers(h.cri, { filter: undefined })).containers, []);
  assert.notEqual((await h.createContainer(pod, "app")).meta.id, c.meta.id, "its name is free again");
});

test("removing a container that is gone, or twice, is no error", async (t) => {
  const h = await harness(t);
  const c = await h.createContainer(await h.runPod());
  await removeContainer(h.cri, { containerId: c.meta.id });
  await removeContainer(h.cri, { containerId: c.meta.id });
  await removeContainer(h.cri, { containerId: "never-was" });
  assert.equal(h.daemon.records.has(c.meta.id), false);
});
