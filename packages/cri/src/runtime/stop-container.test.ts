import assert from "node:assert/strict";
import { test } from "node:test";
import { containerState } from "../store/stores.js";
import { fakeImage, ignoreSignals } from "../testing/fakes.js";
import { harness, rejectsWith } from "../testing/harness.js";
import { startContainer } from "./start-container.js";
import { stopContainer } from "./stop-container.js";

const kills = (calls: string[], id: string) => calls.filter((c) => c.startsWith(`tasks.kill ${id}`));

test("StopContainer sends SIGTERM, records the exit and deletes the task", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 30n });
  assert.equal(containerState(c), "exited");
  assert.equal(c.status.exitCode, 143);
  assert.ok(c.status.finishedAt >= c.status.startedAt);
  assert.deepEqual(kills(h.daemon.calls, c.meta.id), [`tasks.kill ${c.meta.id} 15`]);
  assert.equal(h.daemon.taskTable.has(c.meta.id), false);
});

test("the image's stop signal goes first, SIGKILL once the timeout passes", async (t) => {
  const h = await harness(t);
  h.images.add(fakeImage("quitter:1", { config: { Cmd: ["sh"], StopSignal: "SIGQUIT" } }));
  const pod = await h.runPod();
  const c = await h.createContainer(pod, "q", { image: { image: "quitter:1" } });
  await startContainer(h.cri, { containerId: c.meta.id });
  ignoreSignals(h.process(c.meta.id), new Set([9]));
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 1n });
  assert.deepEqual(kills(h.daemon.calls, c.meta.id), [
    `tasks.kill ${c.meta.id} 3`,
    `tasks.kill ${c.meta.id} 9`,
  ]);
  assert.equal(c.status.exitCode, 137);
});

test("stopping a stopped or never started container does nothing, and is no error", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const c = await h.runContainer(pod);
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 0n });
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 0n });
  const created = await h.createContainer(pod, "idle");
  await stopContainer(h.cri, { containerId: created.meta.id, timeout: 0n });
  assert.equal(containerState(created), "created");
  assert.equal(kills(h.daemon.calls, c.meta.id).length, 1);
  await rejectsWith(stopContainer(h.cri, { containerId: "nope", timeout: 0n }), "NotFound", /not found/);
});
