// Leases hold resources (content, ingests, snapshots) against garbage collection while
// a client works with them, e.g. during a pull. A lease expires when its
// `containerd.io/gc.expire` label (RFC 3339) is in the past.
import { alreadyExists, invalidArgument, notFound } from "@berth/client/errdefs";
import { parseFilters, recordGetter } from "../filters/filters.js";
import { type RequestContext, nowMs, requireNamespace } from "./context.js";
import type { MetadataDB } from "./db.js";
import { validateLabels } from "./labels.js";
import type { NamespaceStore } from "./namespaces.js";
import { type StoredTime, fromStored, nowStored } from "./time.js";

export interface LeaseRecord {
  id: string;
  createdAt: Date;
  labels: Record<string, string>;
}

/** A resource a lease holds: `content` (id = digest), `ingests` (id = ref), `snapshots/<snapshotter>` (id = key). */
export interface LeaseResource {
  id: string;
  type: string;
}

interface Stored {
  createdAt: StoredTime;
  labels: Record<string, string>;
}

export const expireLabel = "containerd.io/gc.expire";

export function leaseExpired(labels: Record<string, string>, now = nowMs()): boolean {
  const exp = labels[expireLabel];
  if (!exp) return false;
  const t = Date.parse(exp);
  return Number.isFinite(t) && t < now;
}

function validateResource(r: LeaseResource): void {
  if (r.id === "") throw invalidArgument("lease resource id must not be empty");
  if (r.type === "content") {
    if (!/^sha256:[a-f0-9]{64}$/.test(r.id))
      throw invalidArgument(`invalid content digest ${JSON.stringify(r.id)}`);
  } else if (r.type !== "ingests" && !r.type.startsWith("snapshots/")) {
    throw notFound(`lease resource type ${JSON.stringify(r.type)}: not found`);
  }
}

export class LeaseStore {
  constructor(
    private readonly meta: MetadataDB,
    private readonly namespaces: NamespaceStore,
  ) {}

  create(ctx: RequestContext, id: string, labels: Record<string, string>): LeaseRecord {
    const ns = requireNamespace(ctx);
    if (id === "") throw invalidArgument("lease id must not be empty");
    validateLabels(labels);
    return this.meta.write(() => {
      if (this.meta.get(["lease", ns, id]) !== undefined)
        throw alreadyExists(`lease "${id}": already exists`);
      this.namespaces.ensure(ns);
      const s: Stored = { createdAt: nowStored(), labels };
      this.meta.put(["lease", ns, id], s);
      return { id, createdAt: fromStored(s.createdAt), labels };
    });
  }

  list(ctx: RequestContext, filters: readonly string[] = []): LeaseRecord[] {
    const ns = requireNamespace(ctx);
    const f = parseFilters(filters);
    return this.meta
      .range<Stored>(["lease", ns])
      .map(({ key, value }) => ({
        id: String(key[2]),
        createdAt: fromStored(value.createdAt),
        labels: value.labels,
      }))
      .filter((l) => f.match(recordGetter({ id: l.id }, l.labels)));
  }

  /** Deletes the lease and its references; the caller runs GC afterwards. */
  delete(ctx: RequestContext, id: string): void {
    const ns = requireNamespace(ctx);
    this.meta.write(() => {
      if (this.meta.get(["lease", ns, id]) === undefined) throw notFound(`lease "${id}": not found`);
      this.meta.remove(["lease", ns, id]);
      for (const { key } of this.meta.range(["leaseres", ns, id])) this.meta.remove(key);
    });
  }

  addResource(ctx: RequestContext, id: string, r: LeaseResource): void {
    const ns = requireNamespace(ctx);
    validateResource(r);
    this.meta.write(() => {
      if (this.meta.get(["lease", ns, id]) === undefined) throw notFound(`lease "${id}": not found`);
      this.meta.put(["leaseres", ns, id, r.type, r.id], 1);
    });
  }

  deleteResource(ctx: RequestContext, id: string, r: LeaseResource): void {
    const ns = requireNamespace(ctx);
    this.meta.write(() => {
      if (this.meta.get(["lease", ns, id]) === undefined) throw notFound(`lease "${id}": not found`);
      this.meta.remove(["leaseres", ns, id, r.type, r.id]);
    });
  }

  listResources(ctx: RequestContext, id: string): LeaseResource[] {
    const ns = requireNamespace(ctx);
    if (this.meta.get(["lease", ns, id]) === undefined) throw notFound(`lease "${id}": not found`);
    return this.meta
      .range(["leaseres", ns, id])
      .map(({ key }) => ({ type: String(key[3]), id: String(key[4]) }));
  }

  /**
   * Adds a resource to the context's lease, if any, inside the caller's transaction.
   * An unknown lease is NotFound, as containerd reports it.
   */
  holdInContext(ctx: RequestContext, r: LeaseResource): void {
    if (ctx.lease === "") return;
    const ns = requireNamespace(ctx);
    if (this.meta.get(["lease", ns, ctx.lease]) === undefined)
      throw notFound(`lease "${ctx.lease}": not found`);
    this.meta.put(["leaseres", ns, ctx.lease, r.type, r.id], 1);
  }

  releaseInContext(ctx: RequestContext, r: LeaseResource): void {
    if (ctx.lease === "") return;
    this.meta.remove(["leaseres", requireNamespace(ctx), ctx.lease, r.type, r.id]);
  }
}
