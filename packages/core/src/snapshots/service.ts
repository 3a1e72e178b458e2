// containerd.services.snapshots.v1.Snapshots: a thin translation onto the namespaced snapshotters.
import { SnapshotCommit, SnapshotPrepare, SnapshotRemove } from "@berth/api/containerd/events/snapshot";
import {
  type Info,
  Kind,
  type SnapshotsServiceImplementation,
} from "@berth/api/containerd/services/snapshots/v1/snapshots";
import { invalidArgument } from "@berth/client/errdefs";
import type { EventPublisher } from "../events/publisher.js";
import type { GarbageCollector } from "../metadata/gc.js";
import type { NamespacedSnapshotter } from "../metadata/snapshots.js";
import type { Mount } from "../mount/mount.js";
import { requestContext } from "../server/context.js";
import type { SnapshotInfo, SnapshotKind } from "./snapshotter.js";

const kindToWire: Record<SnapshotKind, Kind> = {
  view: Kind.VIEW,
  active: Kind.ACTIVE,
  committed: Kind.COMMITTED,
};

function infoToWire(i: SnapshotInfo): Info {
  return {
    name: i.name,
    parent: i.parent,
    kind: kindToWire[i.kind],
    createdAt: i.createdAt,
    updatedAt: i.updatedAt,
    labels: i.labels,
  };
}

const mountsToWire = (mounts: Mount[]) =>
  mounts.map((m) => ({ type: m.type, source: m.source, target: m.target ?? "", options: m.options }));

export function snapshotsService(
  snapshotters: Map<string, NamespacedSnapshotter>,
  gc: GarbageCollector,
  events: EventPublisher,
): SnapshotsServiceImplementation {
  const get = (name: string) => {
    if (name === "") throw invalidArgument("snapshotter argument missing");
    const sn = snapshotters.get(name);
    if (!sn) throw invalidArgument(`snapshotter not loaded: ${name}: invalid argument`);
    return sn;
  };
  return {
    async prepare(req, call) {
      const ctx = requestContext(call);
      const mounts = await get(req.snapshotter).prepare(ctx, req.key, req.parent, req.labels);
      events.publish(
        ctx.namespace,
        "/snapshot/prepare",
        "containerd.events.SnapshotPrepare",
        SnapshotPrepare,
        { key: req.key, parent: req.parent },
      );
      return { mounts: mountsToWire(mounts) };
    },
    async view(req, call) {
      const ctx = requestContext(call);
      return { mounts: mountsToWire(await get(req.snapshotter).view(ctx, req.key, req.parent, req.labels)) };
    },
    async mounts(req, call) {
      return { mounts: mountsToWire(await get(req.snapshotter).mounts(requestContext(call), req.key)) };
    },
    async commit(req, call) {
      const ctx = requestContext(call);
      await get(req.snapshotter).commit(ctx, req.name, req.key, req.labels);
      events.publish(ctx.namespace, "/snapshot/commit", "containerd.events.SnapshotCommit", SnapshotCommit, {
        key: req.key,
        name: req.name,
      });
      return {};
    },
    async remove(req, call) {
      const ctx = requestContext(call);
      await get(req.snapshotter).remove(ctx, req.key);
      events.publish(ctx.namespace, "/snapshot/remove", "containerd.events.SnapshotRemove", SnapshotRemove, {
        key: req.key,
      });
      gc.schedule();
      return {};
    },
    async stat(req, call) {
      return { info: infoToWire(get(req.snapshotter).stat(requestContext(call), req.key)) };
    },
    async update(req, call) {
      if (!req.info) throw invalidArgument("info must not be empty");
      return {
        info: infoToWire(
          get(req.snapshotter).update(
            requestContext(call),
            req.info.name,
            req.info.labels,
            req.updateMask ?? [],
          ),
        ),
      };
    },
    async *list(req, call) {
      const infos = get(req.snapshotter).list(requestContext(call), req.filters);
      for (let i = 0; i < infos.length; i += 100) yield { info: infos.slice(i, i + 100).map(infoToWire) };
    },
    async usage(req, call) {
      return await get(req.snapshotter).usage(requestContext(call), req.key);
    },
    async cleanup(req) {
      const sn = get(req.snapshotter);
      await gc.collect();
      await sn.backend.cleanup();
      return {};
    },
  };
}
