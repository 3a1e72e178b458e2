import assert from "node:assert/strict";
import { test } from "node:test";
import { recover } from "./recover.js";
import { containerState } from "./store/stores.js";
import { harness } from "./testing/harness.js";

test("after a restart berth-cri finds its pods and containers again, in the state the daemon says", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod("web", { labels: { app: "web" } });
  const running = await h.runContainer(pod, "app");
  const idle = await h.createContainer(pod, "idle");
  const cri = h.restarted();
  await recover(cri);
  const s = cri.sandboxes.get(pod.meta.id);
  assert.equal(s.state, "ready");
  assert.equal(s.pid, pod.pid);
  assert.deepEqual(s.meta.config.labels, { app: "web" });
  assert.equal(s.meta.ip, pod.meta.ip);
  const c = cri.containers.get(running.meta.id);
  assert.equal(containerState(c), "running");
  assert.equal(c.status.pid, running.status.pid);
  assert.equal(containerState(cri.containers.get(idle.meta.id)), "created");
  assert.throws(() => cri.names.reserve(running.meta.name, "another"), /is reserved for/);
});

test("a container whose task went away while berth-cri was down is recorded as exited, reason Unknown", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const c = await h.runContainer(pod);
  h.daemon.taskTable.delete(c.meta.id);
  const cri = h.restarted();
  await recover(cri);
  const found = cri.containers.get(c.meta.id);
  assert.equal(containerState(found), "exited");
  assert.deepEqual(
    { exitCode: found.status.exitCode, reason: found.status.reason },
    { exitCode: 255, reason: "Unknown" },
  );
});

test("records without berth-cri's metadata are skipped; a task left by an interrupted start is deleted", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const c = await h.createContainer(pod);
  await h.daemon.tasks.create({
    containerId: c.meta.id,
    rootfs: [],
    stdin: "",
    stdout: "",
    stderr: "",
    terminal: false,
  });
  h.daemon.addRecord({ id: "foreign", labels: { "io.cri-containerd.kind": "container" } });
  const cri = h.restarted();
  await recover(cri);
  assert.equal(cri.containers.find("foreign"), undefined);
  assert.equal(containerState(cri.containers.get(c.meta.id)), "created");
  assert.equal(h.daemon.taskTable.has(c.meta.id), false);
});
