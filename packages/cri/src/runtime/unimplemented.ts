// Calls berth-cri does not serve yet, each failing with a message that says why.
import type { CheckpointContainerRequest } from "@berth/api/cri/runtime/v1/api";
import { notImplemented } from "@berth/client";

export async function checkpointContainer(req: CheckpointContainerRequest): Promise<never> {
  throw notImplemented(
    `CheckpointContainer of ${req.containerId || "a container"} is not supported: berth-cri has no CRIU integration`,
  );
}
