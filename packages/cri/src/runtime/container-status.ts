// ContainerStatus: state, exit code and reason, timestamps, image, mounts and log path.
// Verbose adds the pid, sandbox, runtime, config and the OCI spec in `info`, as containerd does.
import type { ContainerStatusRequest, ContainerStatusResponse } from "@berth/api/cri/runtime/v1/api";
import { ContainerConfig } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { splitReferences } from "../image/image-store.js";
import { containerState } from "../store/stores.js";
import { recordInfo } from "./containerd-records.js";
import { toCriContainerStatus } from "./convert.js";

export async function containerStatus(
  cri: Cri,
  req: ContainerStatusRequest,
): Promise<ContainerStatusResponse> {
  const c = cri.containers.get(req.containerId);
  let image: { spec: string; ref: string } | undefined;
  try {
    const img = await cri.images.resolve(c.meta.imageRef);
    const { repoTags, repoDigests } = splitReferences(img.references);
    image = {
      spec: repoTags[0] ?? c.meta.config.image?.image ?? "",
      ref: repoDigests[0] ?? c.meta.imageRef,
    };
  } catch {
    // The image was removed after the container was created: report what the request named.
  }
  const info: Record<string, string> = {};
  if (req.verbose) {
    const record = await recordInfo(cri, c.meta.id);
    info.info = JSON.stringify({
      sandboxID: c.meta.sandboxId,
      pid: c.status.pid,
      removing: false,
      snapshotKey: c.meta.snapshotKey,
      snapshotter: cri.config.containerd.snapshotter,
      runtimeType: record?.runtime ?? cri.config.containerd.runtime,
      runtimeOptions: null,
      config: ContainerConfig.toJSON(c.meta.config),
      runtimeSpec: record?.runtimeSpec ?? null,
      state: containerState(c),
      oomKilled: c.status.oomKilled,
    });
  }
  return { status: toCriContainerStatus(c, image), info };
}
