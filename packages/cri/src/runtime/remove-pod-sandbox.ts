// RemovePodSandbox: stops the pod when it is still up, removes its containers, then the
// pause container's record and snapshot and the pod's files. A pod that is gone is not an error.

import type { RemovePodSandboxRequest, RemovePodSandboxResponse } from "@berth/api/cri/runtime/v1/api";
import { isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";
import type { Sandbox } from "../store/stores.js";
import { deleteContainerRecord, removeSnapshot } from "./containerd-records.js";
import { removeContainerNow } from "./remove-container.js";
import { forgetCpuSample } from "./stats.js";
import { stopPodSandboxNow } from "./stop-pod-sandbox.js";
import { deleteTask } from "./task.js";

export async function removePodSandbox(
  cri: Cri,
  req: RemovePodSandboxRequest,
): Promise<RemovePodSandboxResponse> {
  let s: Sandbox;
  try {
    s = cri.sandboxes.get(req.podSandboxId);
  } catch (err) {
    if (isNotFound(err)) return {};
    throw err;
  }
  await cri.locks.run(s.meta.id, async () => {
    const id = s.meta.id;
    if (cri.sandboxes.find(id) === undefined) return;
    await stopPodSandboxNow(cri, s);
    for (const c of cri.containers.ofSandbox(id)) {
      await cri.locks.run(c.meta.id, () => removeContainerNow(cri, c));
    }
    await deleteTask(cri, id);
    await deleteContainerRecord(cri, id);
    await removeSnapshot(cri, id);
    await cri.podFiles.remove(id, s.meta.shmPath);
    cri.sandboxes.delete(id);
    cri.names.release(s.meta.name);
    forgetCpuSample(id);
    cri.log.info("sandbox removed", { id });
  });
  return {};
}
