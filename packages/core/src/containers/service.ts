// containerd.services.containers.v1.Containers: a thin translation onto the container store.
import { ContainerCreate, ContainerDelete, ContainerUpdate } from "@berth/api/containerd/events/container";
import type {
  Container,
  ContainersServiceImplementation,
} from "@berth/api/containerd/services/containers/v1/containers";
import { invalidArgument } from "@berth/client/errdefs";
import type { EventPublisher } from "../events/publisher.js";
import type { ContainerRecord, ContainerStore } from "../metadata/containers.js";
import type { GarbageCollector } from "../metadata/gc.js";
import { requestContext } from "../server/context.js";

function fromWire(c: Container | undefined): Omit<ContainerRecord, "createdAt" | "updatedAt"> {
  if (!c) throw invalidArgument("container must not be empty");
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtime: { name: c.runtime?.name ?? "", options: c.runtime?.options },
    spec: c.spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions: c.extensions,
  };
}

const toWire = (c: ContainerRecord): Container => c;

export function containersService(
  store: ContainerStore,
  gc: GarbageCollector,
  events: EventPublisher,
): ContainersServiceImplementation {
  return {
    async get(req, call) {
      return { container: toWire(store.get(requestContext(call), req.id)) };
    },
    async list(req, call) {
      return { containers: store.list(requestContext(call), req.filters).map(toWire) };
    },
    async *listStream(req, call) {
      for (const c of store.list(requestContext(call), req.filters)) yield { container: toWire(c) };
    },
    async create(req, call) {
      const ctx = requestContext(call);
      const c = store.create(ctx, fromWire(req.container));
      events.publish(
        ctx.namespace,
        "/containers/create",
        "containerd.events.ContainerCreate",
        ContainerCreate,
        {
          id: c.id,
          image: c.image,
          runtime: { name: c.runtime.name, options: c.runtime.options },
        },
      );
      return { container: toWire(c) };
    },
    async update(req, call) {
      const ctx = requestContext(call);
      const c = store.update(ctx, fromWire(req.container), req.updateMask ?? []);
      events.publish(
        ctx.namespace,
        "/containers/update",
        "containerd.events.ContainerUpdate",
        ContainerUpdate,
        {
          id: c.id,
          image: c.image,
          labels: c.labels,
          snapshotKey: c.snapshotKey,
        },
      );
      return { container: toWire(c) };
    },
    async delete(req, call) {
      const ctx = requestContext(call);
      store.delete(ctx, req.id);
      events.publish(
        ctx.namespace,
        "/containers/delete",
        "containerd.events.ContainerDelete",
        ContainerDelete,
        { id: req.id },
      );
      gc.schedule();
      return {};
    },
  };
}
