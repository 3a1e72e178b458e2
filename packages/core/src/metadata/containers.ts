// Container records: metadata only (id, image, runtime, spec, snapshot); tasks are the
// running side and live with the runtime manager.
import { alreadyExists, invalidArgument, notFound } from "@berth/client/errdefs";
import { parseFilters } from "../filters/filters.js";
import { type RequestContext, requireNamespace } from "./context.js";
import type { MetadataDB } from "./db.js";
import { applyLabelUpdate, validateLabels } from "./labels.js";
import type { LeaseStore } from "./leases.js";
import type { NamespaceStore } from "./namespaces.js";
import { type StoredTime, fromStored, nowStored } from "./time.js";

export interface AnyValue {
  typeUrl: string;
  value: Buffer;
}

export interface ContainerRecord {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options: AnyValue | undefined };
  spec: AnyValue | undefined;
  snapshotter: string;
  snapshotKey: string;
  createdAt: Date;
  updatedAt: Date;
  extensions: Record<string, AnyValue>;
}

interface Stored extends Omit<ContainerRecord, "createdAt" | "updatedAt"> {
  createdAt: StoredTime;
  updatedAt: StoredTime;
}

const identifier = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

export function validateIdentifier(id: string, what = "identifier"): void {
  if (id === "") throw invalidArgument(`${what} must not be empty`);
  if (id.length > 76)
    throw invalidArgument(`${what} ${JSON.stringify(id)} greater than maximum length (76 characters)`);
  if (!identifier.test(id))
    throw invalidArgument(`${what} ${JSON.stringify(id)} must match ${identifier.source}`);
}

function validate(c: Omit<ContainerRecord, "createdAt" | "updatedAt">): void {
  validateIdentifier(c.id, "container id");
  validateLabels(c.labels);
  if (!c.runtime.name) throw invalidArgument("must specify a runtime name");
  if (!c.spec) throw invalidArgument("container.Spec must be set");
  if (c.snapshotKey !== "" && c.snapshotter === "")
    throw invalidArgument("container.Snapshotter must be set if container.SnapshotKey is set");
}

function toRecord(s: Stored): ContainerRecord {
  return { ...s, createdAt: fromStored(s.createdAt), updatedAt: fromStored(s.updatedAt) };
}

export class ContainerStore {
  constructor(
    private readonly meta: MetadataDB,
    private readonly namespaces: NamespaceStore,
    private readonly leases: LeaseStore,
  ) {}

  get(ctx: RequestContext, id: string): ContainerRecord {
    const ns = requireNamespace(ctx);
    const s = this.meta.get<Stored>(["container", ns, id]);
    if (!s) throw notFound(`container "${id}" in namespace "${ns}": not found`);
    return toRecord(s);
  }

  list(ctx: RequestContext, filters: readonly string[] = []): ContainerRecord[] {
    const ns = requireNamespace(ctx);
    const f = parseFilters(filters);
    return this.meta
      .range<Stored>(["container", ns])
      .map(({ value }) => toRecord(value))
      .filter((c) =>
        f.match((path) => {
          const [head, ...rest] = path;
          if (head === "labels") return rest.length === 0 ? "" : c.labels[rest.join(".")];
          if (head === "runtime" && rest.length === 1 && rest[0] === "name") return c.runtime.name;
          if (rest.length > 0) return undefined;
          if (head === "id") return c.id;
          if (head === "image") return c.image;
          if (head === "snapshotter") return c.snapshotter;
          if (head === "snapshotkey") return c.snapshotKey;
          return undefined;
        }),
      );
  }

  create(ctx: RequestContext, c: Omit<ContainerRecord, "createdAt" | "updatedAt">): ContainerRecord {
    const ns = requireNamespace(ctx);
    validate(c);
    return this.meta.write(() => {
      if (this.meta.get(["container", ns, c.id]) !== undefined)
        throw alreadyExists(`container "${c.id}": already exists`);
      this.namespaces.ensure(ns);
      const now = nowStored();
      const s: Stored = { ...c, createdAt: now, updatedAt: now };
      this.meta.put(["container", ns, c.id], s);
      return toRecord(s);
    });
  }

  update(
    ctx: RequestContext,
    c: Omit<ContainerRecord, "createdAt" | "updatedAt">,
    fieldpaths: readonly string[],
  ): ContainerRecord {
    const ns = requireNamespace(ctx);
    if (c.id === "") throw invalidArgument("must specify a container id");
    return this.meta.write(() => {
      const s = this.meta.get<Stored>(["container", ns, c.id]);
      if (!s) throw notFound(`container "${c.id}" in namespace "${ns}": not found`);
      let paths = [...fieldpaths];
      if (paths.length === 0) {
        paths = ["labels", "spec", "extensions", "image", "snapshotkey"];
        if (c.snapshotter !== s.snapshotter)
          throw invalidArgument("container.Snapshotter field is immutable");
        if (c.runtime.name !== s.runtime.name)
          throw invalidArgument("container.Runtime.Name field is immutable");
      }
      const next: Stored = { ...s };
      const { labels, rest } = applyLabelUpdate(s.labels, c.labels, paths);
      next.labels = labels;
      for (const path of rest) {
        if (path.startsWith("extensions.")) {
          const key = path.slice("extensions.".length);
          const v = c.extensions[key];
          next.extensions = { ...next.extensions };
          if (v) next.extensions[key] = v;
          else delete next.extensions[key];
        } else if (path === "extensions") next.extensions = c.extensions;
        else if (path === "spec") next.spec = c.spec;
        else if (path === "image") next.image = c.image;
        else if (path === "snapshotkey") next.snapshotKey = c.snapshotKey;
        else throw invalidArgument(`cannot update ${JSON.stringify(path)} field on ${JSON.stringify(c.id)}`);
      }
      validate(next);
      next.updatedAt = nowStored();
      this.meta.put(["container", ns, c.id], next);
      return toRecord(next);
    });
  }

  delete(ctx: RequestContext, id: string): void {
    const ns = requireNamespace(ctx);
    this.meta.write(() => {
      if (this.meta.get(["container", ns, id]) === undefined)
        throw notFound(`container "${id}" in namespace "${ns}": not found`);
      this.meta.remove(["container", ns, id]);
    });
    void this.leases;
  }
}
