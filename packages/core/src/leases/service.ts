import type { LeasesServiceImplementation } from "@berth/api/containerd/services/leases/v1/leases";
import { invalidArgument } from "@berth/client/errdefs";
import type { GarbageCollector } from "../metadata/gc.js";
import type { LeaseStore } from "../metadata/leases.js";
import { requestContext } from "../server/context.js";

export function leasesService(store: LeaseStore, gc: GarbageCollector): LeasesServiceImplementation {
  const resource = (r: { id: string; type: string } | undefined) => {
    if (!r) throw invalidArgument("resource must not be empty");
    return r;
  };
  return {
    async create(req, call) {
      return { lease: store.create(requestContext(call), req.id, req.labels) };
    },
    async delete(req, call) {
      store.delete(requestContext(call), req.id);
      if (req.sync) await gc.collect();
      else gc.schedule();
      return {};
    },
    async list(req, call) {
      return { leases: store.list(requestContext(call), req.filters) };
    },
    async addResource(req, call) {
      store.addResource(requestContext(call), req.id, resource(req.resource));
      return {};
    },
    async deleteResource(req, call) {
      store.deleteResource(requestContext(call), req.id, resource(req.resource));
      gc.schedule();
      return {};
    },
    async listResources(req, call) {
      return { resources: store.listResources(requestContext(call), req.id) };
    },
  };
}
