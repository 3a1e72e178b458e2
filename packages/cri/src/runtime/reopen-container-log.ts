// ReopenContainerLog: after kubelet rotated the log file, write to a new one at the same path.
import type { ReopenContainerLogRequest, ReopenContainerLogResponse } from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition } from "@berth/client";
import type { Cri } from "../cri.js";
import { containerState } from "../store/stores.js";

export async function reopenContainerLog(
  cri: Cri,
  req: ReopenContainerLogRequest,
): Promise<ReopenContainerLogResponse> {
  const c = cri.containers.get(req.containerId);
  if (containerState(c) !== "running" || c.io === undefined) {
    throw failedPrecondition(`container ${c.meta.id} is not running: its log cannot be reopened`);
  }
  await c.io.log.reopen();
  return {};
}
