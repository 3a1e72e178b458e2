import assert from "node:assert/strict";
import { test } from "node:test";
import { ContainerState } from "@berth/api/cri/runtime/v1/api";
import { APP_IMAGE, harness, rejectsWith } from "../testing/harness.js";
import { containerStatus } from "./container-status.js";
import { stopContainer } from "./stop-container.js";

test("ContainerStatus follows a container from created to running to exited", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const created = await h.createContainer(pod, "idle");
  const st = async (id: string) => (await containerStatus(h.cri, { containerId: id, verbose: false })).status;
  assert.equal((await st(created.meta.id))?.state, ContainerState.CONTAINER_CREATED);
  const c = await h.runContainer(pod, "app");
  const running = await st(c.meta.id);
  assert.equal(running?.state, ContainerState.CONTAINER_RUNNING);
  assert.equal(running?.image?.image, APP_IMAGE);
  assert.ok((running?.startedAt ?? 0n) > 0n);
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 5n });
  const exited = await st(c.meta.id);
  assert.equal(exited?.state, ContainerState.CONTAINER_EXITED);
  assert.equal(exited?.exitCode, 143);
  assert.equal(exited?.logPath, c.meta.logPath);
});

test("verbose status adds the pid, the pod and the OCI spec", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const c = await h.runContainer(pod);
  const { info } = await containerStatus(h.cri, { containerId: c.meta.id, verbose: true });
  const parsed = JSON.parse(info.info ?? "{}");
  assert.equal(parsed.pid, c.status.pid);
  assert.equal(parsed.sandboxID, pod.meta.id);
  assert.deepEqual(parsed.runtimeSpec.process.args, ["sh"]);
  assert.equal(parsed.state, "running");
});

test("ContainerStatus of an unknown container is NotFound", async (t) => {
  const h = await harness(t);
  await rejectsWith(
    containerStatus(h.cri, { containerId: "nope", verbose: false }),
    "NotFound",
    /"nope" not found/,
  );
});
