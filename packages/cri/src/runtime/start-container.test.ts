import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { BerthError } from "@berth/client";
import { defaultCriConfig } from "../config.js";
import { decodeContainerStatus } from "../store/records.js";
import { containerState } from "../store/stores.js";
import { harness, rejectsWith } from "../testing/harness.js";
import { startContainer } from "./start-container.js";
import { stopContainer } from "./stop-container.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";

test("a started container runs with Berth's shim writing its CRI log, and the start is recorded", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  assert.equal(containerState(c), "running");
  const task = h.process(c.meta.id);
  assert.equal(c.status.pid, task.pid);
  assert.match(task.stdio.stdout, /^cri-log:\/\//);
  assert.equal(task.stdio.stderr, task.stdio.stdout, "both streams go to the one log");
  assert.ok(decodeContainerStatus(h.daemon.records.get(c.meta.id)!).startedAt > 0n, "persisted");
});

test("with another runtime berth-cri copies the output from FIFOs into the CRI log", async (t) => {
  const h = await harness(t, {
    containerd: { ...defaultCriConfig.containerd, runtime: "io.containerd.runc.v2" },
  });
  const c = await h.runContainer(await h.runPod());
  const task = h.process(c.meta.id);
  assert.match(task.stdio.stdout, /^\//, "a FIFO path");
  await h.daemon.write(task, "stdout", "hello\n");
  await h.daemon.write(task, "stderr", "oops\n");
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 10n });
  const lines = (await readFile(c.meta.logPath, "utf8")).trim().split("\n");
  assert.deepEqual(lines.map((l) => l.split(" ").slice(1).join(" ")).sort(), [
    "stderr F oops",
    "stdout F hello",
  ]);
});

test("only a created container can be started, in a ready pod", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const c = await h.runContainer(pod);
  await rejectsWith(
    startContainer(h.cri, { containerId: c.meta.id }),
    "FailedPrecondition",
    /is in running state: only a created container can be started/,
  );
  await rejectsWith(startContainer(h.cri, { containerId: "nope" }), "NotFound", /container "nope" not found/);
  const late = await h.createContainer(pod, "late");
  await stopPodSandbox(h.cri, { podSandboxId: pod.meta.id });
  await rejectsWith(
    startContainer(h.cri, { containerId: late.meta.id }),
    "FailedPrecondition",
    /is not ready/,
  );
});

test("a task that fails to start leaves the container exited with StartError, and no task", async (t) => {
  const h = await harness(t);
  const c = await h.createContainer(await h.runPod());
  h.daemon.failures.set("tasks.start", new BerthError("Unknown", "exec: no such file"));
  await rejectsWith(startContainer(h.cri, { containerId: c.meta.id }), "Unknown", /no such file/);
  assert.equal(containerState(c), "exited");
  assert.deepEqual(
    { exitCode: c.status.exitCode, reason: c.status.reason, message: c.status.message },
    { exitCode: 128, reason: "StartError", message: "exec: no such file" },
  );
  assert.equal(h.daemon.taskTable.has(c.meta.id), false);
  assert.equal(decodeContainerStatus(h.daemon.records.get(c.meta.id)!).reason, "StartError");
});
