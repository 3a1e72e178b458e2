// ListContainers: filters by ID (or unique prefix), sandbox, state and labels.
import type { ListContainersRequest, ListContainersResponse } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { criContainerState, toCriContainer } from "./convert.js";
import { byIdFilter, matchesLabels } from "./filter.js";

export async function listContainers(cri: Cri, req: ListContainersRequest): Promise<ListContainersResponse> {
  const f = req.filter;
  let containers = cri.containers.list();
  if (f !== undefined) {
    containers = byIdFilter(containers, f.id, (c) => c.meta.id);
    if (f.podSandboxId !== "") {
      const sandboxIds = byIdFilter(
        cri.sandboxes.list().map((s) => s.meta.id),
        f.podSandboxId,
        (id) => id,
      );
      containers = containers.filter((c) => sandboxIds.includes(c.meta.sandboxId));
    }
    if (f.state !== undefined) containers = containers.filter((c) => criContainerState(c) === f.state?.state);
    containers = containers.filter((c) => matchesLabels(c.meta.config.labels, f.labelSelector));
  }
  return { containers: containers.map(toCriContainer) };
}
