// Image records: a name pointing at a target descriptor (index or manifest), with labels.
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "@berth/client/errdefs";
import { parseFilters } from "../filters/filters.js";
import { type RequestContext, requireNamespace } from "./context.js";
import type { MetadataDB } from "./db.js";
import { applyLabelUpdate, validateLabels } from "./labels.js";
import type { NamespaceStore } from "./namespaces.js";
import { type StoredTime, fromStored, nowStored } from "./time.js";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

export interface ImageRecord {
  name: string;
  labels: Record<string, string>;
  target: Descriptor;
  createdAt: Date;
  updatedAt: Date;
}

interface Stored {
  labels: Record<string, string>;
  target: Descriptor;
  createdAt: StoredTime;
  updatedAt: StoredTime;
}

export const digestPattern = /^sha256:[a-f0-9]{64}$/;

export function validateDigest(digest: string, what = "digest"): void {
  if (!digestPattern.test(digest))
    throw invalidArgument(`${what} ${JSON.stringify(digest)}: invalid digest (want sha256:<64 hex>)`);
}

function validateImage(image: Pick<ImageRecord, "name" | "labels" | "target">): void {
  if (image.name === "") throw invalidArgument("image name must not be empty");
  validateLabels(image.labels);
  if (image.target.mediaType === "")
    throw invalidArgument(`image ${image.name}: target mediatype must not be empty`);
  validateDigest(image.target.digest, `image ${image.name}: target`);
}

export class ImageStore {
  constructor(
    private readonly meta: MetadataDB,
    private readonly namespaces: NamespaceStore,
  ) {}

  private toRecord(ns: string, name: string, s: Stored): ImageRecord {
    return {
      name,
      labels: s.labels,
      target: s.target,
      createdAt: fromStored(s.createdAt),
      updatedAt: fromStored(s.updatedAt),
    };
  }

  get(ctx: RequestContext, name: string): ImageRecord {
    const ns = requireNamespace(ctx);
    const s = this.meta.get<Stored>(["image", ns, name]);
    if (!s) throw notFound(`image "${name}": not found`);
    return this.toRecord(ns, name, s);
  }

  list(ctx: RequestContext, filters: readonly string[] = []): ImageRecord[] {
    const ns = requireNamespace(ctx);
    const f = parseFilters(filters);
    return this.meta
      .range<Stored>(["image", ns])
      .map(({ key, value }) => this.toRecord(ns, String(key[2]), value))
      .filter((img) =>
        f.match((path) => {
          const [head, ...rest] = path;
          if (head === "name") return rest.length === 0 ? img.name : undefined;
          if (head === "labels") return rest.length === 0 ? "" : img.labels[rest.join(".")];
          if (head === "target" && rest.length === 1) {
            if (rest[0] === "digest") return img.target.digest;
            if (rest[0] === "mediatype") return img.target.mediaType;
          }
          return undefined;
        }),
      );
  }

  create(ctx: RequestContext, image: Pick<ImageRecord, "name" | "labels" | "target">): ImageRecord {
    const ns = requireNamespace(ctx);
    validateImage(image);
    return this.meta.write(() => {
      if (this.meta.get(["image", ns, image.name]) !== undefined)
        throw alreadyExists(`image "${image.name}": already exists`);
      this.namespaces.ensure(ns);
      const now = nowStored();
      const s: Stored = { labels: image.labels, target: image.target, createdAt: now, updatedAt: now };
      this.meta.put(["image", ns, image.name], s);
      return this.toRecord(ns, image.name, s);
    });
  }

  update(
    ctx: RequestContext,
    image: Pick<ImageRecord, "name" | "labels" | "target">,
    fieldpaths: readonly string[],
  ): ImageRecord {
    const ns = requireNamespace(ctx);
    if (image.name === "") throw invalidArgument("image name must not be empty");
    return this.meta.write(() => {
      const s = this.meta.get<Stored>(["image", ns, image.name]);
      if (!s) throw notFound(`image "${image.name}": not found`);
      const next: Stored = { ...s };
      if (fieldpaths.length === 0) {
        next.labels = image.labels;
        next.target = image.target;
      } else {
        const { labels, rest } = applyLabelUpdate(s.labels, image.labels, fieldpaths);
        next.labels = labels;
        for (const path of rest) {
          if (path === "target") next.target = image.target;
          else if (path === "annotations" || path.startsWith("annotations."))
            next.target = { ...next.target, annotations: image.target.annotations };
          else
            throw failedPrecondition(
              `cannot update ${JSON.stringify(path)} field on image ${JSON.stringify(image.name)}`,
            );
        }
      }
      validateImage({ name: image.name, labels: next.labels, target: next.target });
      next.updatedAt = nowStored();
      this.meta.put(["image", ns, image.name], next);
      return this.toRecord(ns, image.name, next);
    });
  }

  delete(ctx: RequestContext, name: string): void {
    const ns = requireNamespace(ctx);
    this.meta.write(() => {
      if (this.meta.get(["image", ns, name]) === undefined) throw notFound(`image "${name}": not found`);
      this.meta.remove(["image", ns, name]);
    });
  }
}
