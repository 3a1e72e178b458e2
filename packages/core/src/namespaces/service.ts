import { NamespaceCreate, NamespaceDelete, NamespaceUpdate } from "@berth/api/containerd/events/namespace";
import type { NamespacesServiceImplementation } from "@berth/api/containerd/services/namespaces/v1/namespace";
import { invalidArgument } from "@berth/client/errdefs";
import type { CallContext } from "nice-grpc-common";
import type { EventPublisher } from "../events/publisher.js";
import type { NamespaceStore } from "../metadata/namespaces.js";
import { requestContext } from "../server/context.js";

/** The namespace the request was made in, or `fallback` when it names none. */
function callerNamespace(call: CallContext, fallback: string): string {
  return requestContext(call).namespace || fallback;
}

export function namespacesService(
  store: NamespaceStore,
  events: EventPublisher,
): NamespacesServiceImplementation {
  return {
    async get(req) {
      // containerd answers an unknown namespace with empty labels rather than NotFound.
      if (store.list().some((n) => n.name === req.name)) return { namespace: store.get(req.name) };
      return { namespace: { name: req.name, labels: {} } };
    },
    async list(req) {
      return { namespaces: store.list(req.filter ? [req.filter] : []) };
    },
    async create(req, call) {
      if (!req.namespace) throw invalidArgument("namespace must not be empty");
      const ns = store.create(req.namespace.name, req.namespace.labels);
      // As containerd: create and update events go to the caller's namespace, delete to the deleted one.
      events.publish(
        callerNamespace(call, ns.name),
        "/namespaces/create",
        "containerd.events.NamespaceCreate",
        NamespaceCreate,
        {
          name: ns.name,
          labels: ns.labels,
        },
      );
      return { namespace: ns };
    },
    async update(req, call) {
      if (!req.namespace) throw invalidArgument("namespace must not be empty");
      const ns = store.update(req.namespace.name, req.namespace.labels, req.updateMask ?? []);
      events.publish(
        callerNamespace(call, ns.name),
        "/namespaces/update",
        "containerd.events.NamespaceUpdate",
        NamespaceUpdate,
        {
          name: ns.name,
          labels: ns.labels,
        },
      );
      return { namespace: ns };
    },
    async delete(req) {
      store.delete(req.name);
      events.publish(req.name, "/namespaces/delete", "containerd.events.NamespaceDelete", NamespaceDelete, {
        name: req.name,
      });
      return {};
    },
  };
}
