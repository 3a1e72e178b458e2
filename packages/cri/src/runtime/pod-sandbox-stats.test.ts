import assert from "node:assert/strict";
import { test } from "node:test";
import { Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import { PodSandboxStatsFilter } from "@berth/api/cri/runtime/v1/api";
import { harness, rejectsWith } from "../testing/harness.js";
import { listPodSandboxStats, podSandboxStats } from "./pod-sandbox-stats.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";

const memory = (bytes: bigint) =>
  Metrics.fromPartial({ memory: { usage: { usage: bytes } }, pids: { current: 1n } });

test("PodSandboxStats sums the pause and application containers, and lists each container", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod("web", { labels: { app: "web" } });
  const c = await h.runContainer(pod, "app");
  h.daemon.metricsTable.set(pod.meta.id, memory(1000n));
  h.daemon.metricsTable.set(c.meta.id, memory(3000n));
  const { stats } = await podSandboxStats(h.cri, { podSandboxId: pod.meta.id });
  assert.equal(stats?.attributes?.id, pod.meta.id);
  assert.deepEqual(stats?.attributes?.labels, { app: "web" });
  assert.equal(stats?.linux?.memory?.usageBytes?.value, 4000n);
  assert.equal(stats?.linux?.process?.processCount?.value, 2n);
  assert.deepEqual(
    stats?.linux?.containers.map((x) => x.attributes?.id),
    [c.meta.id],
  );
  await rejectsWith(podSandboxStats(h.cri, { podSandboxId: "nope" }), "NotFound", /not found/);
});

test("pods that are not ready have no stats, and are left out of the list", async (t) => {
  const h = await harness(t);
  const up = await h.runPod("up", { labels: { tier: "a" } });
  const down = await h.runPod("down", { labels: { tier: "a" } });
  const other = await h.runPod("other", { labels: { tier: "b" } });
  await stopPodSandbox(h.cri, { podSandboxId: down.meta.id });
  await rejectsWith(
    podSandboxStats(h.cri, { podSandboxId: down.meta.id }),
    "FailedPrecondition",
    /is not ready: it has no stats/,
  );
  const ids = async (filter?: Parameters<typeof PodSandboxStatsFilter.fromPartial>[0]) =>
    (await listPodSandboxStats(h.cri, { filter: filter && PodSandboxStatsFilter.fromPartial(filter) })).stats
      .map((s) => s.attributes?.id)
      .sort();
  assert.deepEqual(await ids(), [up.meta.id, other.meta.id].sort());
  assert.deepEqual(await ids({ labelSelector: { tier: "a" } }), [up.meta.id]);
  assert.deepEqual(await ids({ id: other.meta.id }), [other.meta.id]);
});
