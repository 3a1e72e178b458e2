// StopPodSandbox: every container of the pod killed, the pause task killed and deleted,
// /dev/shm unmounted, CNI DEL with the config ADD used, the network namespace removed.
// Calling it again is harmless, as kubelet expects.

import type { StopPodSandboxRequest, StopPodSandboxResponse } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import type { Sandbox } from "../store/stores.js";
import { handleSandboxExit } from "./exit.js";
import { cniAttachment } from "./run-pod-sandbox.js";
import { stopContainerNow } from "./stop-container.js";
import { SIGKILL, killTask, waitTask } from "./task.js";

export async function stopPodSandbox(cri: Cri, req: StopPodSandboxRequest): Promise<StopPodSandboxResponse> {
  const s = cri.sandboxes.get(req.podSandboxId);
  await cri.locks.run(s.meta.id, () => stopPodSandboxNow(cri, s));
  return {};
}

export async function stopPodSandboxNow(cri: Cri, s: Sandbox): Promise<void> {
  const id = s.meta.id;
  await Promise.all(
    cri.containers.ofSandbox(id).map((c) => cri.locks.run(c.meta.id, () => stopContainerNow(cri, c, 0))),
  );
  if (s.pid !== 0 || s.state === "ready") {
    await killTask(cri, id, SIGKILL, true);
    await waitTask(cri, id, 30_000).catch(() => undefined);
  }
  await handleSandboxExit(cri, s);
  await cri.podFiles.unmountShm(s.meta);
  await tearDownNetwork(cri, s);
  cri.log.info("sandbox stopped", { id });
}

async function tearDownNetwork(cri: Cri, s: Sandbox): Promise<void> {
  const { network, netnsPath } = s.meta;
  if (netnsPath === "") return;
  const pinned = await cri.netns.exists(netnsPath);
  if (network !== undefined) {
    // DEL is idempotent; without the namespace plugins still release what they hold (IPs, port maps).
    const attachment = cniAttachment(s.meta.id, pinned ? netnsPath : "", s.meta.config, network.portMappings);
    await cri.cni.del(network.config, attachment, network.result);
  }
  await cri.netns.remove(netnsPath);
}
