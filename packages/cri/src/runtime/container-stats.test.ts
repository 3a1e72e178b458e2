import assert from "node:assert/strict";
import { test } from "node:test";
import { Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import { ContainerStatsFilter } from "@berth/api/cri/runtime/v1/api";
import { harness, rejectsWith } from "../testing/harness.js";
import { containerStats, listContainerStats } from "./container-stats.js";

const metrics = (cpuNs: bigint, memory: bigint) =>
  Metrics.fromPartial({
    cpu: { usage: { total: cpuNs } },
    memory: { usage: { usage: memory, limit: 1n << 62n }, totalInactiveFile: 100n, totalRss: 50n },
  });

test("ContainerStats reads CPU and memory from the task's cgroup and the writable layer's usage", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod(), "app");
  h.daemon.metricsTable.set(c.meta.id, metrics(5_000_000n, 1100n));
  const { stats } = await containerStats(h.cri, { containerId: c.meta.id });
  assert.equal(stats?.attributes?.id, c.meta.id);
  assert.equal(stats?.attributes?.metadata?.name, "app");
  assert.equal(stats?.cpu?.usageCoreNanoSeconds?.value, 5_000_000n);
  assert.equal(stats?.memory?.workingSetBytes?.value, 1000n, "usage less inactive file pages");
  assert.equal(stats?.memory?.availableBytes, undefined, "no limit");
  assert.equal(stats?.writableLayer?.usedBytes?.value, 4096n);
  assert.equal(stats?.writableLayer?.fsId?.mountpoint, "/fake/snapshotter");
  await rejectsWith(containerStats(h.cri, { containerId: "nope" }), "NotFound", /not found/);
});

test("ListContainerStats filters by ID, pod and labels", async (t) => {
  const h = await harness(t);
  const { b, web, job, other } = await h.twoPods();
  const ids = async (filter?: Parameters<typeof ContainerStatsFilter.fromPartial>[0]) =>
    (await listContainerStats(h.cri, { filter: filter && ContainerStatsFilter.fromPartial(filter) })).stats
      .map((s) => s.attributes?.id)
      .sort();
  assert.deepEqual(await ids(), [web.meta.id, job.meta.id, other.meta.id].sort());
  assert.deepEqual(await ids({ podSandboxId: b.meta.id }), [other.meta.id]);
  assert.deepEqual(await ids({ id: web.meta.id }), [web.meta.id]);
  assert.deepEqual(await ids({ labelSelector: { role: "batch" } }), [job.meta.id]);
});
