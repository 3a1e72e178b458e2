// The namespaced view of a snapshotter. Names are per namespace; the backend sees
// unique keys `<namespace>/<seq>/<name>` so namespaces never collide. Labels live here,
// with the parent chain, so GC can walk references without asking the backend.
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isNotFound,
  notFound,
} from "@berth/client/errdefs";
import { parseFilters } from "../filters/filters.js";
import type { Mount } from "../mount/mount.js";
import type { SnapshotInfo, SnapshotKind, SnapshotUsage, Snapshotter } from "../snapshots/snapshotter.js";
import { type RequestContext, requireNamespace } from "./context.js";
import type { MetadataDB } from "./db.js";
import type { GcLock } from "./gc-lock.js";
import { applyLabelUpdate, validateLabels } from "./labels.js";
import type { LeaseStore } from "./leases.js";
import type { NamespaceStore } from "./namespaces.js";
import { type StoredTime, fromStored, nowStored } from "./time.js";

export interface StoredSnapshot {
  backendKey: string;
  kind: SnapshotKind;
  parent: string;
  labels: Record<string, string>;
  createdAt: StoredTime;
  updatedAt: StoredTime;
}

export class NamespacedSnapshotter {
  constructor(
    readonly name: string,
    private readonly meta: MetadataDB,
    readonly backend: Snapshotter,
    private readonly namespaces: NamespaceStore,
    private readonly leases: LeaseStore,
    private readonly gcLock: GcLock,
  ) {}

  private key(ns: string, key: string) {
    return ["snap", ns, this.name, key];
  }

  private get(ns: string, key: string): StoredSnapshot {
    if (key === "") throw invalidArgument("snapshot key must not be empty");
    const s = this.meta.get<StoredSnapshot>(this.key(ns, key));
    if (!s) throw notFound(`snapshot ${key} does not exist: not found`);
    return s;
  }

  private nextBackendKey(ns: string, key: string): string {
    const seq = (this.meta.get<number>(["seq", "snapshot"]) ?? 0) + 1;
    this.meta.put(["seq", "snapshot"], seq);
    return `${ns}/${seq}/${key}`;
  }

  private info(key: string, s: StoredSnapshot): SnapshotInfo {
    return {
      name: key,
      kind: s.kind,
      parent: s.parent,
      labels: s.labels,
      createdAt: fromStored(s.createdAt),
      updatedAt: fromStored(s.updatedAt),
    };
  }

  stat(ctx: RequestContext, key: string): SnapshotInfo {
    const ns = requireNamespace(ctx);
    return this.info(key, this.get(ns, key));
  }

  update(
    ctx: RequestContext,
    key: string,
    labels: Record<string, string>,
    fieldpaths: readonly string[],
  ): SnapshotInfo {
    const ns = requireNamespace(ctx);
    return this.meta.write(() => {
      const s = this.get(ns, key);
      const { labels: next, rest } = applyLabelUpdate(s.labels, labels, fieldpaths);
      if (rest.length > 0) throw invalidArgument(`cannot update ${rest.join(", ")} on snapshot ${key}`);
      const updated = { ...s, labels: next, updatedAt: nowStored() };
      this.meta.put(this.key(ns, key), updated);
      return this.info(key, updated);
    });
  }

  list(ctx: RequestContext, filters: readonly string[] = []): SnapshotInfo[] {
    const ns = requireNamespace(ctx);
    const f = parseFilters(filters);
    return this.meta
      .range<StoredSnapshot>(["snap", ns, this.name])
      .map(({ key, value }) => this.info(String(key[3]), value))
      .filter((info) =>
        f.match((path) => {
          const [head, ...rest] = path;
          if (head === "labels") return rest.length === 0 ? "" : info.labels[rest.join(".")];
          if (rest.length > 0) return undefined;
          if (head === "name") return info.name;
          if (head === "parent") return info.parent;
          if (head === "kind") return info.kind;
          return undefined;
        }),
      );
  }

  async usage(ctx: RequestContext, key: string): Promise<SnapshotUsage> {
    const ns = requireNamespace(ctx);
    return this.backend.usage(this.get(ns, key).backendKey);
  }

  async mounts(ctx: RequestContext, key: string): Promise<Mount[]> {
    const ns = requireNamespace(ctx);
    const s = this.get(ns, key);
    if (s.kind === "committed")
      throw failedPrecondition(
        `snapshot ${key} is committed: mounts are only for active snapshots and views`,
      );
    return this.backend.mounts(s.backendKey);
  }

  prepare(
    ctx: RequestContext,
    key: string,
    parent: string,
    labels: Record<string, string>,
  ): Promise<Mount[]> {
    return this.create(ctx, "active", key, parent, labels);
  }

  view(ctx: RequestContext, key: string, parent: string, labels: Record<string, string>): Promise<Mount[]> {
    return this.create(ctx, "view", key, parent, labels);
  }

  private async create(
    ctx: RequestContext,
    kind: "active" | "view",
    key: string,
    parent: string,
    labels: Record<string, string>,
  ): Promise<Mount[]> {
    const ns = requireNamespace(ctx);
    if (key === "") throw invalidArgument("snapshot key must not be empty");
    validateLabels(labels);
    return this.gcLock.shared(async () => {
      const backendKey = this.meta.write(() => {
        if (this.meta.get(this.key(ns, key)) !== undefined)
          throw alreadyExists(`snapshot ${key}: already exists`);
        let parentKey = "";
        if (parent !== "") {
          const p = this.get(ns, parent);
          if (p.kind !== "committed") throw invalidArgument(`parent ${parent} is not a committed snapshot`);
          parentKey = p.backendKey;
        }
        this.namespaces.ensure(ns);
        const bkey = this.nextBackendKey(ns, key);
        // Recorded before the backend creates it, so a crash leaves a record GC can find.
        const now = nowStored();
        this.meta.put(this.key(ns, key), {
          backendKey: bkey,
          kind,
          parent,
          labels,
          createdAt: now,
          updatedAt: now,
        } satisfies StoredSnapshot);
        this.leases.holdInContext(ctx, { type: `snapshots/${this.name}`, id: key });
        return { bkey, parentKey };
      });
      try {
        return kind === "active"
          ? await this.backend.prepare(backendKey.bkey, backendKey.parentKey, { labels })
          : await this.backend.view(backendKey.bkey, backendKey.parentKey, { labels });
      } catch (err) {
        this.meta.write(() => {
          this.meta.remove(this.key(ns, key));
          this.leases.releaseInContext(ctx, { type: `snapshots/${this.name}`, id: key });
        });
        throw err;
      }
    });
  }

  async commit(
    ctx: RequestContext,
    name: string,
    key: string,
    labels: Record<string, string>,
  ): Promise<void> {
    const ns = requireNamespace(ctx);
    if (name === "") throw invalidArgument("snapshot name must not be empty");
    validateLabels(labels);
    await this.gcLock.shared(async () => {
      const { s, bname } = this.meta.write(() => {
        const s = this.get(ns, key);
        if (s.kind !== "active") throw failedPrecondition(`snapshot ${key} is not active`);
        if (this.meta.get(this.key(ns, name)) !== undefined)
          throw alreadyExists(`snapshot ${name}: already exists`);
        return { s, bname: this.nextBackendKey(ns, name) };
      });
      await this.backend.commit(bname, s.backendKey, { labels });
      this.meta.write(() => {
        const now = nowStored();
        this.meta.remove(this.key(ns, key));
        this.meta.put(this.key(ns, name), {
          backendKey: bname,
          kind: "committed",
          parent: s.parent,
          labels,
          createdAt: now,
          updatedAt: now,
        } satisfies StoredSnapshot);
        this.leases.releaseInContext(ctx, { type: `snapshots/${this.name}`, id: key });
        this.leases.holdInContext(ctx, { type: `snapshots/${this.name}`, id: name });
      });
    });
  }

  async remove(ctx: RequestContext, key: string): Promise<void> {
    const ns = requireNamespace(ctx);
    const s = this.meta.write(() => {
      const s = this.get(ns, key);
      for (const { value } of this.meta.range<StoredSnapshot>(["snap", ns, this.name])) {
        if (value.parent === key)
          throw failedPrecondition(`cannot remove snapshot ${key} with child: failed precondition`);
      }
      this.meta.remove(this.key(ns, key));
      return s;
    });
    await this.backend.remove(s.backendKey).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }

  /** Every backend key any namespace references (GC keeps these). */
  referencedBackendKeys(): Set<string> {
    const out = new Set<string>();
    for (const { key, value } of this.meta.range<StoredSnapshot>(["snap"])) {
      if (key[2] === this.name) out.add(value.backendKey);
    }
    return out;
  }
}
