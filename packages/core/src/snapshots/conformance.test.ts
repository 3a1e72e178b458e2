// The snapshotter suite (testsuite.ts) against every layer a client can reach, as
// containerd runs its snapshotter testsuite against the local snapshotters, the metadata
// layer and the proxy: the metadata layer's namespaced overlayfs snapshotter, and
// berthd's Snapshots service over gRPC through @berth/client. Each adapter only
// translates calls; a layer that answers differently from the local snapshotter fails.
// Everything is created under a lease, as clients do: GC would take unreferenced snapshots.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Kind, type Info as WireInfo } from "@berth/api/containerd/services/snapshots/v1/snapshots";
import { BerthError } from "@berth/client/errdefs";
import { silentLogger } from "@berth/client/log";
import { LocalContentStore } from "../content/local.js";
import type { RequestContext } from "../metadata/context.js";
import { Metadata } from "../metadata/metadata.js";
import { startTestBerthd, translated } from "../server/test-berthd.js";
import { OverlaySnapshotter } from "./overlay.js";
import type { SnapshotInfo, SnapshotKind, Snapshotter } from "./snapshotter.js";
import { snapshotterSuite } from "./testsuite.js";

const NAMESPACE = "conformance";
const LEASE = "conformance";

snapshotterSuite("the metadata layer's namespaced overlayfs", {
  directoryLayout: false,
  async open(root) {
    await mkdir(join(root, "overlay"), { recursive: true });
    const overlay = await OverlaySnapshotter.open(join(root, "overlay"));
    const content = await LocalContentStore.open(join(root, "content"));
    const md = Metadata.open(root, content, { overlayfs: overlay }, silentLogger);
    const ctx: RequestContext = { namespace: NAMESPACE, lease: LEASE };
    if (!md.leases.list(ctx).some((l) => l.id === LEASE)) md.leases.create(ctx, LEASE, {});
    const sn = md.snapshotters.get("overlayfs");
    if (sn === undefined) throw new Error("no overlayfs in the metadata layer");
    return {
      stat: async (key) => sn.stat(ctx, key),
      update: async (info, fieldpaths) => sn.update(ctx, info.name, info.labels, fieldpaths ?? []),
      usage: (key) => sn.usage(ctx, key),
      mounts: (key) => sn.mounts(ctx, key),
      prepare: (key, parent, options) => sn.prepare(ctx, key, parent, options?.labels ?? {}),
      view: (key, parent, options) => sn.view(ctx, key, parent, options?.labels ?? {}),
      commit: (name, key, options) => sn.commit(ctx, name, key, options?.labels ?? {}),
      remove: (key) => sn.remove(ctx, key),
      list: async () => sn.list(ctx),
      cleanup: () => overlay.cleanup(),
      close: async () => {
        await md.close();
        await overlay.close();
      },
    } satisfies Snapshotter;
  },
});

const kinds: Record<number, SnapshotKind> = {
  [Kind.VIEW]: "view",
  [Kind.ACTIVE]: "active",
  [Kind.COMMITTED]: "committed",
};

function fromWire(info: WireInfo | undefined): SnapshotInfo {
  if (info === undefined) throw new BerthError("Unknown", "the Snapshots service answered without an info");
  const kind = kinds[info.kind];
  if (kind === undefined) throw new BerthError("Unknown", `snapshot ${info.name} has kind ${info.kind}`);
  return {
    name: info.name,
    kind,
    parent: info.parent,
    labels: info.labels,
    createdAt: info.createdAt ?? new Date(0),
    updatedAt: info.updatedAt ?? new Date(0),
  };
}

snapshotterSuite("berthd's Snapshots service over gRPC", {
  directoryLayout: false,
  async open(root) {
    const { conn, stop } = await startTestBerthd(root, NAMESPACE, LEASE);
    const s = conn.snapshots;
    const snapshotter = "overlayfs";
    return {
      stat: (key) => translated(async () => fromWire((await s.stat({ snapshotter, key })).info)),
      update: (info, fieldpaths) =>
        translated(async () => {
          const res = await s.update({
            snapshotter,
            info: { name: info.name, labels: info.labels, parent: "", kind: Kind.UNKNOWN },
            updateMask: fieldpaths ?? [],
          });
          return fromWire(res.info);
        }),
      usage: (key) =>
        translated(async () => {
          const res = await s.usage({ snapshotter, key });
          return { size: res.size, inodes: res.inodes };
        }),
      mounts: (key) => translated(async () => (await s.mounts({ snapshotter, key })).mounts),
      prepare: (key, parent, options) =>
        translated(
          async () => (await s.prepare({ snapshotter, key, parent, labels: options?.labels ?? {} })).mounts,
        ),
      view: (key, parent, options) =>
        translated(
          async () => (await s.view({ snapshotter, key, parent, labels: options?.labels ?? {} })).mounts,
        ),
      commit: (name, key, options) =>
        translated(async () => {
          await s.commit({ snapshotter, name, key, labels: options?.labels ?? {} });
        }),
      remove: (key) =>
        translated(async () => {
          await s.remove({ snapshotter, key });
        }),
      list: () =>
        translated(async () => {
          const out: SnapshotInfo[] = [];
          for await (const res of s.list({ snapshotter, filters: [] })) out.push(...res.info.map(fromWire));
          return out;
        }),
      cleanup: () =>
        translated(async () => {
          await s.cleanup({ snapshotter });
        }),
      close: stop,
    } satisfies Snapshotter;
  },
});
