// The namespaced view of the shared content store. Blobs are stored once on disk and
// recorded per namespace with their labels; an ingest is recorded in the namespace that
// opened it. Content that exists in another namespace is shared without copying, as
// containerd's default "shared" policy does.
import { alreadyExists, invalidArgument, isAlreadyExists, isNotFound, notFound } from "@berth/client/errdefs";
import type {
  ContentInfo,
  ContentReader,
  ContentStore,
  ContentWriter,
  IngestStatus,
} from "../content/store.js";
import { parseFilters } from "../filters/filters.js";
import { type RequestContext, nowMs, requireNamespace } from "./context.js";
import type { MetadataDB } from "./db.js";
import type { GcLock } from "./gc-lock.js";
import { validateDigest } from "./images.js";
import { applyLabelUpdate, validateLabels } from "./labels.js";
import type { LeaseStore } from "./leases.js";
import type { NamespaceStore } from "./namespaces.js";

interface StoredContent {
  labels: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

interface StoredIngest {
  /** Ref in the backend store (namespace-qualified so namespaces never collide). */
  backendRef: string;
  expected: string;
}

export interface NamespacedWriter {
  readonly ref: string;
  status(): Promise<IngestStatus>;
  write(data: Uint8Array): Promise<void>;
  truncate(size: number): Promise<void>;
  commit(size: number, expected: string, labels: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export class NamespacedContentStore {
  constructor(
    private readonly meta: MetadataDB,
    readonly backend: ContentStore,
    private readonly namespaces: NamespaceStore,
    private readonly leases: LeaseStore,
    private readonly gcLock: GcLock,
  ) {}

  private record(ns: string, digest: string): StoredContent | undefined {
    return this.meta.get<StoredContent>(["content", ns, digest]);
  }

  async info(ctx: RequestContext, digest: string): Promise<ContentInfo> {
    const ns = requireNamespace(ctx);
    validateDigest(digest);
    const rec = this.record(ns, digest);
    if (!rec) throw notFound(`content digest ${digest}: not found`);
    const blob = await this.backend.info(digest);
    return {
      digest,
      size: blob.size,
      labels: rec.labels,
      createdAt: new Date(rec.createdAt),
      updatedAt: new Date(rec.updatedAt),
    };
  }

  async update(
    ctx: RequestContext,
    digest: string,
    labels: Record<string, string>,
    fieldpaths: readonly string[],
  ): Promise<ContentInfo> {
    const ns = requireNamespace(ctx);
    validateDigest(digest);
    this.meta.write(() => {
      const rec = this.record(ns, digest);
      if (!rec) throw notFound(`content digest ${digest}: not found`);
      const { labels: next, rest } = applyLabelUpdate(rec.labels, labels, fieldpaths);
      if (rest.length > 0) throw notFound(`cannot update ${rest.join(", ")} on content ${digest}`);
      this.meta.put(["content", ns, digest], { ...rec, labels: next, updatedAt: nowMs() });
    });
    return this.info(ctx, digest);
  }

  async list(ctx: RequestContext, filters: readonly string[] = []): Promise<ContentInfo[]> {
    const ns = requireNamespace(ctx);
    const f = parseFilters(filters);
    const out: ContentInfo[] = [];
    for (const { key, value } of this.meta.range<StoredContent>(["content", ns])) {
      const digest = String(key[2]);
      const match = f.match((path) => {
        const [head, ...rest] = path;
        if (head === "digest" && rest.length === 0) return digest;
        if (head === "labels") return rest.length === 0 ? "" : value.labels[rest.join(".")];
        return undefined;
      });
      if (!match) continue;
      try {
        const blob = await this.backend.info(digest);
        out.push({
          digest,
          size: blob.size,
          labels: value.labels,
          createdAt: new Date(value.createdAt),
          updatedAt: new Date(value.updatedAt),
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return out;
  }

  /** Removes the blob from this namespace; GC removes it from disk when no namespace has it. */
  delete(ctx: RequestContext, digest: string): void {
    const ns = requireNamespace(ctx);
    validateDigest(digest);
    this.meta.write(() => {
      if (!this.record(ns, digest)) throw notFound(`content digest ${digest}: not found`);
      this.meta.remove(["content", ns, digest]);
    });
  }

  async reader(ctx: RequestContext, digest: string): Promise<ContentReader> {
    const ns = requireNamespace(ctx);
    validateDigest(digest);
    if (!this.record(ns, digest)) throw notFound(`content digest ${digest}: not found`);
    return this.backend.reader(digest);
  }

  private ingestKey(ns: string, ref: string) {
    return ["ingest", ns, ref];
  }

  async status(ctx: RequestContext, ref: string): Promise<IngestStatus> {
    const ns = requireNamespace(ctx);
    const ing = this.meta.get<StoredIngest>(this.ingestKey(ns, ref));
    if (!ing) throw notFound(`ref ${ref}: not found`);
    const st = await this.backend.status(ing.backendRef);
    return { ...st, ref };
  }

  async listStatuses(ctx: RequestContext, filters: readonly string[] = []): Promise<IngestStatus[]> {
    const ns = requireNamespace(ctx);
    const f = parseFilters(filters);
    const out: IngestStatus[] = [];
    for (const { key, value } of this.meta.range<StoredIngest>(["ingest", ns])) {
      const ref = String(key[2]);
      if (!f.match((p) => (p.length === 1 && p[0] === "ref" ? ref : undefined))) continue;
      try {
        out.push({ ...(await this.backend.status(value.backendRef)), ref });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return out;
  }

  async abort(ctx: RequestContext, ref: string): Promise<void> {
    const ns = requireNamespace(ctx);
    const ing = this.meta.get<StoredIngest>(this.ingestKey(ns, ref));
    if (!ing) throw notFound(`ref ${ref}: not found`);
    await this.backend.abort(ing.backendRef).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    this.meta.write(() => {
      this.meta.remove(this.ingestKey(ns, ref));
      this.leases.releaseInContext(ctx, { type: "ingests", id: ref });
    });
  }

  /**
   * Opens or resumes the ingest `ref`. When `expected` names content this namespace
   * already has, throws AlreadyExists; when only another namespace has it, the blob is
   * shared into this one and AlreadyExists is thrown as well, so nothing is fetched twice.
   */
  async writer(ctx: RequestContext, ref: string, total: number, expected: string): Promise<NamespacedWriter> {
    const ns = requireNamespace(ctx);
    if (ref === "") throw invalidArgument("ref must not be empty");
    if (expected !== "") {
      validateDigest(expected, "expected");
      if (this.record(ns, expected)) throw alreadyExists(`content ${expected}: already exists`);
      const shared = await this.backend.info(expected).catch(() => undefined);
      if (shared && (total === 0 || total === shared.size)) {
        this.meta.write(() => {
          this.namespaces.ensure(ns);
          const now = nowMs();
          this.meta.put(["content", ns, expected], { labels: {}, createdAt: now, updatedAt: now });
          this.leases.holdInContext(ctx, { type: "content", id: expected });
        });
        throw alreadyExists(`content ${expected}: already exists`);
      }
    }
    // Under the GC lock until the ingest is recorded: a collection running meanwhile would
    // take the new ingest directory for a stray one and remove it under the writer.
    const w = await this.gcLock.shared(async () => {
      const existing = this.meta.get<StoredIngest>(this.ingestKey(ns, ref));
      const backendRef = existing?.backendRef ?? `${ns}/${ref}`;
      const w = await this.backend.writer(backendRef, { total, expected });
      this.meta.write(() => {
        this.namespaces.ensure(ns);
        this.meta.put(this.ingestKey(ns, ref), { backendRef, expected } satisfies StoredIngest);
        this.leases.holdInContext(ctx, { type: "ingests", id: ref });
      });
      return w;
    });
    return this.wrapWriter(ctx, ns, ref, w);
  }

  private wrapWriter(ctx: RequestContext, ns: string, ref: string, w: ContentWriter): NamespacedWriter {
    return {
      ref,
      status: async () => ({ ...(await w.status()), ref }),
      write: (data) => w.write(data),
      truncate: (size) => w.truncate(size),
      close: () => w.close(),
      commit: async (size, expected, labels) => {
        validateLabels(labels);
        return this.gcLock.shared(async () => {
          let digest: string;
          try {
            digest = await w.commit(size, expected);
          } catch (err) {
            if (!isAlreadyExists(err) || expected === "") throw err;
            digest = expected;
          }
          this.meta.write(() => {
            this.namespaces.ensure(ns);
            const now = nowMs();
            const rec = this.record(ns, digest);
            if (rec) throw alreadyExists(`content ${digest}: already exists`);
            this.meta.put(["content", ns, digest], { labels, createdAt: now, updatedAt: now });
            this.meta.remove(this.ingestKey(ns, ref));
            this.leases.releaseInContext(ctx, { type: "ingests", id: ref });
            this.leases.holdInContext(ctx, { type: "content", id: digest });
          });
          return digest;
        });
      },
    };
  }
}
