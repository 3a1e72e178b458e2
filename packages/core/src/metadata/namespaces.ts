// Namespaces: created explicitly or implicitly by the first record written in them.
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "@berth/client/errdefs";
import { parseFilters, recordGetter } from "../filters/filters.js";
import { validateNamespace } from "./context.js";
import type { MetadataDB } from "./db.js";
import { applyLabelUpdate, validateLabels } from "./labels.js";

export interface NamespaceRecord {
  name: string;
  labels: Record<string, string>;
}

/** Record kinds that live inside a namespace; a namespace holding any cannot be deleted. */
export const namespacedKinds = [
  "image",
  "content",
  "ingest",
  "snap",
  "lease",
  "container",
  "sandbox",
] as const;

export class NamespaceStore {
  constructor(private readonly meta: MetadataDB) {}

  /** Records the namespace if new; call inside the write transaction of a namespaced write. */
  ensure(name: string): void {
    if (this.meta.get(["ns", name]) === undefined) this.meta.put(["ns", name], { labels: {} });
  }

  create(name: string, labels: Record<string, string>): NamespaceRecord {
    validateNamespace(name);
    validateLabels(labels);
    return this.meta.write(() => {
      if (this.meta.get(["ns", name]) !== undefined) throw alreadyExists(`namespace ${name}: already exists`);
      this.meta.put(["ns", name], { labels });
      return { name, labels };
    });
  }

  get(name: string): NamespaceRecord {
    const rec = this.meta.get<{ labels: Record<string, string> }>(["ns", name]);
    if (!rec) throw notFound(`namespace ${name}: not found`);
    return { name, labels: rec.labels };
  }

  list(filters: readonly string[] = []): NamespaceRecord[] {
    const f = parseFilters(filters);
    return this.meta
      .range<{ labels: Record<string, string> }>(["ns"])
      .map(({ key, value }) => ({ name: String(key[1]), labels: value.labels }))
      .filter((n) => f.match(recordGetter({ name: n.name }, n.labels)));
  }

  /**
   * Sets labels, as containerd does: a namespace that does not exist yet is created by
   * the first label set on it (`ctr namespaces label NEW k=v`).
   */
  update(name: string, labels: Record<string, string>, fieldpaths: readonly string[]): NamespaceRecord {
    validateNamespace(name);
    validateLabels(labels);
    return this.meta.write(() => {
      const stored = this.meta.get<{ labels: Record<string, string> }>(["ns", name]);
      const { labels: next, rest } = applyLabelUpdate(stored?.labels ?? {}, labels, fieldpaths);
      if (rest.length > 0)
        throw invalidArgument(
          `cannot update ${rest.map((p) => JSON.stringify(p)).join(", ")} field of namespace ${name}: only labels can be`,
        );
      const setsLabels = fieldpaths.length > 0 || Object.keys(labels).length > 0;
      if (stored === undefined && !setsLabels) throw notFound(`namespace ${name}: not found`);
      this.meta.put(["ns", name], { labels: next });
      return { name, labels: next };
    });
  }

  delete(name: string): void {
    this.meta.write(() => {
      this.get(name);
      for (const kind of namespacedKinds) {
        if (this.meta.range([kind, name]).length > 0) {
          throw failedPrecondition(`namespace ${name} must be empty, but it still has ${kind}s`);
        }
      }
      this.meta.remove(["ns", name]);
    });
  }
}
