// PodSandboxStats and ListPodSandboxStats: the pod's containers' CPU and memory summed
// with the pause container's, the pod's network traffic, and each container's stats.
import type {
  ListPodSandboxStatsRequest,
  ListPodSandboxStatsResponse,
  PodSandboxStatsRequest,
  PodSandboxStatsResponse,
} from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition } from "@berth/client";
import type { Cri } from "../cri.js";
import { byIdFilter, matchesLabels } from "./filter.js";
import { podSandboxStats as statsOf, taskMetrics } from "./stats.js";

export async function podSandboxStats(
  cri: Cri,
  req: PodSandboxStatsRequest,
): Promise<PodSandboxStatsResponse> {
  const s = cri.sandboxes.get(req.podSandboxId);
  if (s.state !== "ready") throw failedPrecondition(`sandbox ${s.meta.id} is not ready: it has no stats`);
  const metrics = await taskMetrics(cri, [
    s.meta.id,
    ...cri.containers.ofSandbox(s.meta.id).map((c) => c.meta.id),
  ]);
  const fs = await cri.imageFs.get();
  return { stats: await statsOf(cri, s, metrics, fs.fsId?.mountpoint ?? "") };
}

export async function listPodSandboxStats(
  cri: Cri,
  req: ListPodSandboxStatsRequest,
): Promise<ListPodSandboxStatsResponse> {
  const f = req.filter;
  let sandboxes = cri.sandboxes.list().filter((s) => s.state === "ready");
  if (f !== undefined) {
    sandboxes = byIdFilter(sandboxes, f.id, (s) => s.meta.id);
    sandboxes = sandboxes.filter((s) => matchesLabels(s.meta.config.labels, f.labelSelector));
  }
  const metrics = await taskMetrics(cri);
  const fs = await cri.imageFs.get();
  const mountpoint = fs.fsId?.mountpoint ?? "";
  return { stats: await Promise.all(sandboxes.map((s) => statsOf(cri, s, metrics, mountpoint))) };
}
