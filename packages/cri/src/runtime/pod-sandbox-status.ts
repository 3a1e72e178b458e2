// PodSandboxStatus: state, IP and namespaces; verbose adds what containerd reports in
// `info` (pid, netns path, CNI result, the config), so tools that read it keep working.
import type { PodSandboxStatusRequest, PodSandboxStatusResponse } from "@berth/api/cri/runtime/v1/api";
import { PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { nowNs } from "../store/records.js";
import { toCriSandboxStatus } from "./convert.js";

export async function podSandboxStatus(
  cri: Cri,
  req: PodSandboxStatusRequest,
): Promise<PodSandboxStatusResponse> {
  const s = cri.sandboxes.get(req.podSandboxId);
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.info = JSON.stringify({
      pid: s.pid,
      processStatus: s.state === "ready" ? "running" : "stopped",
      netNamespaceClosed: s.state !== "ready",
      runtimeHandler: s.meta.runtimeHandler,
      runtimeType: cri.config.containerd.runtime,
      config: PodSandboxConfig.toJSON(s.meta.config),
      netnsPath: s.meta.netnsPath,
      cniResult: s.meta.network?.result ?? null,
      image: s.meta.imageId,
    });
  }
  return { status: toCriSandboxStatus(s), info, containersStatuses: [], timestamp: nowNs() };
}
