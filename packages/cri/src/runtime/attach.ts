// Attach: checks the container runs, then returns a single-use URL on the streaming server
// where the client joins the container's stdio (see ../streaming/attach-session.ts).

import type { AttachRequest, AttachResponse } from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition, invalidArgument } from "@berth/client";
import type { Cri } from "../cri.js";
import { containerState } from "../store/stores.js";
import { notRunningMessage } from "../streaming/attach-session.js";
import type { StreamingServer } from "../streaming/server.js";

export async function attach(
  cri: Cri,
  streaming: Pick<StreamingServer, "url">,
  req: AttachRequest,
): Promise<AttachResponse> {
  if (req.containerId === "") throw invalidArgument("missing required container_id");
  if (req.tty && req.stderr) throw invalidArgument("tty and stderr cannot both be true");
  if (!req.stdin && !req.stdout && !req.stderr) {
    throw invalidArgument("one of stdin, stdout, and stderr must be set");
  }
  const c = cri.containers.get(req.containerId);
  const state = containerState(c);
  if (state !== "running") throw failedPrecondition(notRunningMessage(c.meta.id, state));
  return { url: streaming.url({ kind: "attach", request: { ...req, containerId: c.meta.id } }) };
}
