// ContainerStats and ListContainerStats: CPU and memory from the task's cgroup, the
// writable layer's usage from the snapshotter.
import type {
  ContainerStatsRequest,
  ContainerStatsResponse,
  ListContainerStatsRequest,
  ListContainerStatsResponse,
} from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { byIdFilter, matchesLabels } from "./filter.js";
import { containerStats as statsOf, taskMetrics } from "./stats.js";

export async function containerStats(cri: Cri, req: ContainerStatsRequest): Promise<ContainerStatsResponse> {
  const c = cri.containers.get(req.containerId);
  const metrics = await taskMetrics(cri, [c.meta.id]);
  const fs = await cri.imageFs.get();
  return { stats: await statsOf(cri, c, metrics, fs.fsId?.mountpoint ?? "") };
}

export async function listContainerStats(
  cri: Cri,
  req: ListContainerStatsRequest,
): Promise<ListContainerStatsResponse> {
  const f = req.filter;
  let containers = cri.containers.list();
  if (f !== undefined) {
    containers = byIdFilter(containers, f.id, (c) => c.meta.id);
    if (f.podSandboxId !== "") {
      const ids = byIdFilter(
        cri.sandboxes.list().map((s) => s.meta.id),
        f.podSandboxId,
        (id) => id,
      );
      containers = containers.filter((c) => ids.includes(c.meta.sandboxId));
    }
    containers = containers.filter((c) => matchesLabels(c.meta.config.labels, f.labelSelector));
  }
  const metrics = await taskMetrics(cri);
  const fs = await cri.imageFs.get();
  const mountpoint = fs.fsId?.mountpoint ?? "";
  return { stats: await Promise.all(containers.map((c) => statsOf(cri, c, metrics, mountpoint))) };
}
