// RemoveContainer: stops it when it still runs, then deletes its task, record, snapshot
// and FIFOs. The log file stays: kubelet owns it. A container that is gone is not an error.

import { rm } from "node:fs/promises";
import {
  ContainerEventType,
  type RemoveContainerRequest,
  type RemoveContainerResponse,
} from "@berth/api/cri/runtime/v1/api";
import { isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";
import type { Container } from "../store/stores.js";
import { deleteContainerRecord, removeSnapshot } from "./containerd-records.js";
import { containerDir } from "./create-container.js";
import { finishIo } from "./exit.js";
import { fifoDir } from "./start-container.js";
import { forgetCpuSample } from "./stats.js";
import { stopContainerNow } from "./stop-container.js";
import { deleteTask } from "./task.js";

export async function removeContainer(
  cri: Cri,
  req: RemoveContainerRequest,
): Promise<RemoveContainerResponse> {
  let c: Container;
  try {
    c = cri.containers.get(req.containerId);
  } catch (err) {
    if (isNotFound(err)) return {};
    throw err;
  }
  await cri.locks.run(c.meta.id, () => removeContainerNow(cri, c));
  return {};
}

export async function removeContainerNow(cri: Cri, c: Container): Promise<void> {
  const id = c.meta.id;
  if (cri.containers.find(id) === undefined) return;
  await stopContainerNow(cri, c, 0);
  await deleteTask(cri, id);
  await finishIo(cri, c);
  await deleteContainerRecord(cri, id);
  await removeSnapshot(cri, c.meta.snapshotKey);
  await rm(fifoDir(cri.config.state, id), { recursive: true, force: true });
  await rm(containerDir(cri.config.state, id), { recursive: true, force: true });
  await rm(containerDir(cri.config.root, id), { recursive: true, force: true });
  cri.publishContainerEvent(id, ContainerEventType.CONTAINER_DELETED_EVENT);
  cri.containers.delete(id);
  cri.names.release(c.meta.name);
  forgetCpuSample(id);
  cri.log.info("container removed", { id });
}
