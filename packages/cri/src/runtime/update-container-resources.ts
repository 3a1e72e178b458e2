// UpdateContainerResources: the new limits go into the container's spec (so a restart of
// its task keeps them) and, when it runs, into its cgroup through the task.

import type {
  UpdateContainerResourcesRequest,
  UpdateContainerResourcesResponse,
} from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition, invalidArgument } from "@berth/client";
import { type Spec, criResources, mergeResources, nodeHost } from "@berth/client/oci/index";
import type { Cri } from "../cri.js";
import { containerState } from "../store/stores.js";
import { SPEC_TYPE_URL, specAny } from "./containerd-records.js";

const RESOURCES_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

export async function updateContainerResources(
  cri: Cri,
  req: UpdateContainerResourcesRequest,
): Promise<UpdateContainerResourcesResponse> {
  const c = cri.containers.get(req.containerId);
  const linux = req.linux;
  if (linux === undefined)
    throw invalidArgument("no Linux resources given: only Linux containers are supported");
  return cri.locks.run(c.meta.id, async () => {
    const state = containerState(c);
    if (state === "exited" || state === "unknown") {
      throw failedPrecondition(
        `container ${c.meta.id} is in ${state} state: its resources cannot be updated`,
      );
    }
    const record = (await cri.containerd.containers.get({ id: c.meta.id })).container;
    if (
      record?.spec === undefined ||
      !record.spec.typeUrl.endsWith(SPEC_TYPE_URL.split("/").pop() ?? "Spec")
    ) {
      throw failedPrecondition(`container ${c.meta.id} has no OCI spec in the daemon`);
    }
    const spec = JSON.parse(Buffer.from(record.spec.value).toString("utf8")) as Spec;
    // The conversion CreateContainer used, merged over what the spec has.
    spec.linux.resources = mergeResources(spec.linux.resources ?? {}, criResources(linux, nodeHost, true));
    await cri.containerd.containers.update({
      container: { id: c.meta.id, spec: specAny(spec) },
      updateMask: ["spec"],
    });
    if (state === "running") {
      await cri.containerd.tasks.update({
        containerId: c.meta.id,
        resources: { typeUrl: RESOURCES_TYPE_URL, value: Buffer.from(JSON.stringify(spec.linux.resources)) },
        annotations: req.annotations,
      });
    }
    c.status = { ...c.status, resources: linux };
    await cri.persistStatus(c);
    return {};
  });
}
