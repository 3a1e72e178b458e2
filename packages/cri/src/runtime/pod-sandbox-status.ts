// PodSandboxStatus: state, IP and namespaces; verbose adds what containerd reports in
// `info` (pid, netns path, CNI result, the config, the pause container's image, snapshot and
// OCI spec), so tools that read it keep working.
import type { PodSandboxStatusRequest, PodSandboxStatusResponse } from "@berth/api/cri/runtime/v1/api";
import { PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { runtimeOf } from "../config.js";
import type { Cri } from "../cri.js";
import { nowNs } from "../store/records.js";
import { recordInfo } from "./containerd-records.js";
import { toCriSandboxStatus } from "./convert.js";

export async function podSandboxStatus(
  cri: Cri,
  req: PodSandboxStatusRequest,
): Promise<PodSandboxStatusResponse> {
  const s = cri.sandboxes.get(req.podSandboxId);
  const info: Record<string, string> = {};
  if (req.verbose) {
    const record = await recordInfo(cri, s.meta.id);
    info.info = JSON.stringify({
      pid: s.pid,
      processStatus: s.state === "ready" ? "running" : "stopped",
      netNamespaceClosed: s.state !== "ready",
      // Like containerd: the image the pause container was made from, as its record names it.
      image: record?.image || s.meta.imageId,
      snapshotKey: record?.snapshotKey ?? "",
      snapshotter: record?.snapshotter ?? cri.config.containerd.snapshotter,
      runtimeHandler: s.meta.runtimeHandler,
      runtimeType: record?.runtime || (runtimeOf(cri.config, s.meta.runtimeHandler) ?? ""),
      runtimeOptions: null,
      config: PodSandboxConfig.toJSON(s.meta.config),
      runtimeSpec: record?.runtimeSpec ?? null,
      netnsPath: s.meta.netnsPath,
      cniResult: s.meta.network?.result ?? null,
    });
  }
  return { status: toCriSandboxStatus(s), info, containersStatuses: [], timestamp: nowNs() };
}
