// ListPodSandbox: filters by ID (or unique prefix), state and labels.
import type { ListPodSandboxRequest, ListPodSandboxResponse } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { sandboxState, toCriSandbox } from "./convert.js";
import { byIdFilter, matchesLabels } from "./filter.js";

export async function listPodSandbox(cri: Cri, req: ListPodSandboxRequest): Promise<ListPodSandboxResponse> {
  const f = req.filter;
  let sandboxes = cri.sandboxes.list();
  if (f !== undefined) {
    sandboxes = byIdFilter(sandboxes, f.id, (s) => s.meta.id);
    if (f.state !== undefined) sandboxes = sandboxes.filter((s) => sandboxState(s) === f.state?.state);
    sandboxes = sandboxes.filter((s) => matchesLabels(s.meta.config.labels, f.labelSelector));
  }
  return { items: sandboxes.map(toCriSandbox) };
}
