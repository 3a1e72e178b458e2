// ReopenContainerLog: after kubelet rotated the log file (renamed it), write to a new one at
// the same path: berth-cri's own writer for FIFO-fed logs, else the shim's, through an
// Update of the task carrying Berth's reopen annotation (io/shim-log.ts).
import type { ReopenContainerLogRequest, ReopenContainerLogResponse } from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition } from "@berth/client";
import type { Cri } from "../cri.js";
import { REOPEN_LOG_ANNOTATION, isCriLogUri } from "../io/shim-log.js";
import { containerState } from "../store/stores.js";
import { getTask } from "./task.js";

export async function reopenContainerLog(
  cri: Cri,
  req: ReopenContainerLogRequest,
): Promise<ReopenContainerLogResponse> {
  const c = cri.containers.get(req.containerId);
  const id = c.meta.id;
  if (containerState(c) !== "running") {
    throw failedPrecondition(`container ${id} is not running: its log cannot be reopened`);
  }
  if (c.io !== undefined) {
    await c.io.log.reopen();
    return {};
  }
  // The task's own record says who writes the log: it outlives restarts of berth-cri.
  const task = await getTask(cri, id);
  if (task === undefined || !isCriLogUri(task.stdout)) {
    throw failedPrecondition(`container ${id} has no log writer: its log cannot be reopened`);
  }
  await cri.containerd.tasks.update({
    containerId: id,
    resources: undefined,
    annotations: { [REOPEN_LOG_ANNOTATION]: "1" },
  });
  return {};
}
