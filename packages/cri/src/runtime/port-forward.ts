// PortForward: checks the pod is ready, then returns a single-use URL on the streaming
// server through which the client reaches the pod's ports (see ../streaming/port-forward.ts).

import type { PortForwardRequest, PortForwardResponse } from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition, invalidArgument } from "@berth/client";
import type { Cri } from "../cri.js";
import type { StreamingServer } from "../streaming/server.js";

export async function portForward(
  cri: Cri,
  streaming: Pick<StreamingServer, "url">,
  req: PortForwardRequest,
): Promise<PortForwardResponse> {
  if (req.podSandboxId === "") throw invalidArgument("missing required pod_sandbox_id");
  for (const port of req.port) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`invalid port ${port}`);
  }
  const s = cri.sandboxes.get(req.podSandboxId);
  if (s.state !== "ready")
    throw failedPrecondition(`sandbox ${s.meta.id} is not ready: cannot forward ports to it`);
  return { url: streaming.url({ kind: "portforward", request: { ...req, podSandboxId: s.meta.id } }) };
}
