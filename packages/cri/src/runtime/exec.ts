// Exec: checks the container runs, then returns a single-use URL on the streaming server
// where the client runs the command with its streams (see ../streaming/).

import type { ExecRequest, ExecResponse } from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition, invalidArgument } from "@berth/client";
import type { Cri } from "../cri.js";
import { containerState } from "../store/stores.js";
import type { StreamingServer } from "../streaming/server.js";

export async function exec(
  cri: Cri,
  streaming: Pick<StreamingServer, "url">,
  req: ExecRequest,
): Promise<ExecResponse> {
  if (req.containerId === "") throw invalidArgument("missing required container_id");
  if (req.cmd.length === 0) throw invalidArgument("exec command must not be empty");
  if (req.tty && req.stderr) throw invalidArgument("tty and stderr cannot both be true");
  if (!req.stdin && !req.stdout && !req.stderr) {
    throw invalidArgument("one of stdin, stdout, or stderr must be set");
  }
  const c = cri.containers.get(req.containerId);
  if (containerState(c) !== "running") {
    throw failedPrecondition(`container ${c.meta.id} is not running: cannot exec in it`);
  }
  return { url: streaming.url({ kind: "exec", request: { ...req, containerId: c.meta.id } }) };
}
