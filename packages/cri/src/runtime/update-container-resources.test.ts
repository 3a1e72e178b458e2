import assert from "node:assert/strict";
import { test } from "node:test";
import { LinuxContainerResources } from "@berth/api/cri/runtime/v1/api";
import { harness, rejectsWith } from "../testing/harness.js";
import { stopContainer } from "./stop-container.js";
import { updateContainerResources } from "./update-container-resources.js";

const linux = LinuxContainerResources.fromPartial({
  cpuShares: 512n,
  cpuQuota: 50_000n,
  cpuPeriod: 100_000n,
});
const update = (containerId: string, l: LinuxContainerResources | undefined = linux) => ({
  containerId,
  linux: l,
  windows: undefined,
  annotations: { why: "test" },
});

test("new limits of a running container go into its spec and, through the task, its cgroup", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  await updateContainerResources(h.cri, update(c.meta.id));
  const spec = JSON.parse(Buffer.from(h.daemon.records.get(c.meta.id)?.spec?.value ?? []).toString());
  assert.equal(spec.linux.resources.cpu.shares, 512);
  assert.equal(spec.linux.resources.cpu.quota, 50_000);
  const [sent] = h.daemon.requestsOf<{ resources: { value: Uint8Array }; annotations: object }>(
    "tasks.update",
  );
  assert.equal(JSON.parse(Buffer.from(sent?.resources.value ?? []).toString()).cpu.shares, 512);
  assert.deepEqual(sent?.annotations, { why: "test" });
  assert.equal(c.status.resources?.cpuShares, 512n, "ContainerStatus reports the new resources");
});

test("a created container only has its spec changed; an exited one cannot be updated", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const created = await h.createContainer(pod, "idle");
  await updateContainerResources(h.cri, update(created.meta.id));
  assert.deepEqual(h.daemon.requestsOf("tasks.update"), []);
  const c = await h.runContainer(pod, "app");
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 0n });
  await rejectsWith(
    updateContainerResources(h.cri, update(c.meta.id)),
    "FailedPrecondition",
    /is in exited state: its resources cannot be updated/,
  );
  await rejectsWith(
    updateContainerResources(h.cri, { ...update(created.meta.id), linux: undefined }),
    "InvalidArgument",
    /only Linux containers are supported/,
  );
  await rejectsWith(updateContainerResources(h.cri, update("nope")), "NotFound", /not found/);
});
