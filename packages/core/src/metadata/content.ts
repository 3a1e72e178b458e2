// The namespaced view of the shared content store. Blobs are stored once on disk and
// recorded per namespace with their labels; an ingest is recorded in the namespace that
// opened it. Content that exists in another namespace is shared without copying, as
// containerd's default "shared" policy does.
import {
  BerthError,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isAlreadyExists,
  isNotFound,
  notFound,
} from "@berth/client/errdefs";
import {
  BlobExistsError,
  type ContentInfo,
  type ContentReader,
  type ContentStore,
  type ContentWriter,
  type IngestStatus,
} from "../content/store.js";
import { parseFilters } from "../filters/filters.js";
import { type RequestContext, requireNamespace } from "./context.js";
import type { MetadataDB } from "./db.js";
import type { GcLock } from "./gc-lock.js";
import { validateDigest } from "./images.js";
import { applyLabelUpdate, validateLabels } from "./labels.js";
import type { LeaseStore } from "./leases.js";
import type { NamespaceStore } from "./namespaces.js";
import { type StoredTime, fromStored, nowStored } from "./time.js";

interface StoredContent {
  labels: Record<string, string>;
  createdAt: StoredTime;
  updatedAt: StoredTime;
}

interface StoredIngest {
  /** Ref in the backend store (namespace-qualified so namespaces never collide). */
  backendRef: string;
  expected: string;
  /**
   * For an ingest opened outside any lease: when garbage collection may take it (ms since
   * the epoch). containerd keeps such an ingest 24 hours; a leased one lives with its lease.
   */
  expireAt?: number;
  /** The blob exists in another namespace: a commit records it here without a copy. */
  shared?: boolean;
}

/** How long an ingest opened without a lease survives garbage collection, as in containerd. */
export const UNLEASED_INGEST_TTL_MS = 24 * 60 * 60 * 1000;

export interface NamespacedWriter {
  readonly ref: string;
  status(): Promise<IngestStatus>;
  /** Digest of the bytes written so far, as containerd's Writer.Digest(). */
  digest(): string;
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
      createdAt: fromStored(rec.createdAt),
      updatedAt: fromStored(rec.updatedAt),
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
      this.meta.put(["content", ns, digest], { ...rec, labels: next, updatedAt: nowStored() });
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
          createdAt: fromStored(value.createdAt),
          updatedAt: fromStored(value.updatedAt),
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
   * already has, throws AlreadyExists. When only another namespace has it, the writer is
   * "shared", as containerd's: it already holds the blob (offset and total are its size,
   * Status names the expected digest) and a commit records it in this namespace, with the
   * labels the commit gives, without a byte being copied; writing to it first copies the
   * blob into a private ingest.
   */
  async writer(ctx: RequestContext, ref: string, total: number, expected: string): Promise<NamespacedWriter> {
    const ns = requireNamespace(ctx);
    if (ref === "") throw invalidArgument("ref must not be empty");
    const existing = this.meta.get<StoredIngest>(this.ingestKey(ns, ref));
    const backendRef = existing?.backendRef ?? `${ns}/${ref}`;
    let shared: ContentInfo | undefined;
    if (expected !== "") {
      validateDigest(expected, "expected");
      if (this.record(ns, expected)) {
        // As containerd: the caller's lease holds the blob it found, so that a removal
        // elsewhere (an image deleted meanwhile) cannot collect it under its pull.
        this.meta.write(() => this.leases.holdInContext(ctx, { type: "content", id: expected }));
        throw alreadyExists(`content ${expected}: already exists`);
      }
      const blob = await this.backend.info(expected).catch(() => undefined);
      if (blob && (total === 0 || total === blob.size)) shared = blob;
    }
    // Under the GC lock until the ingest is recorded: a collection running meanwhile would
    // take the new ingest directory for a stray one and remove it under the writer.
    const w = await this.gcLock.shared(async () => {
      // A collection that ran while this waited for the lock may have swept the blob found
      // above (its only namespace had let it go): share it only if it is still there.
      if (shared && !(await this.backend.info(shared.digest).catch(() => undefined))) shared = undefined;
      const w = shared ? undefined : await this.openBackend(backendRef, ref, { total, expected });
      this.meta.write(() => {
        this.namespaces.ensure(ns);
        const ingest: StoredIngest = { backendRef, expected };
        if (shared) ingest.shared = true;
        if (ctx.lease === "") ingest.expireAt = Date.now() + UNLEASED_INGEST_TTL_MS;
        this.meta.put(this.ingestKey(ns, ref), ingest);
        this.leases.holdInContext(ctx, { type: "ingests", id: ref });
      });
      return w;
    });
    if (w) return this.wrapWriter(ctx, ns, ref, w);
    return this.sharedWriter(ctx, ns, ref, backendRef, shared as ContentInfo);
  }

  /** A writer over a blob another namespace has (see writer()). */
  private sharedWriter(
    ctx: RequestContext,
    ns: string,
    ref: string,
    backendRef: string,
    blob: ContentInfo,
  ): NamespacedWriter {
    const started = fromStored(nowStored());
    let own: NamespacedWriter | undefined;
    // Copies the first `size` bytes of the blob into a private ingest and writes on there.
    const unshare = async (size: number): Promise<NamespacedWriter> => {
      if (own) return own;
      const w = await this.openBackend(backendRef, ref, { total: blob.size });
      try {
        await w.truncate(0);
        const reader = await this.backend.reader(blob.digest);
        try {
          for (let off = 0; off < size; ) {
            const chunk = await reader.readAt(off, Math.min(1 << 20, size - off));
            if (chunk.length === 0) break;
            await w.write(chunk);
            off += chunk.length;
          }
        } finally {
          await reader.close();
        }
      } catch (err) {
        await w.close().catch(() => undefined);
        throw err;
      }
      this.meta.write(() => {
        const ing = this.meta.get<StoredIngest>(this.ingestKey(ns, ref));
        if (ing) this.meta.put(this.ingestKey(ns, ref), { ...ing, shared: undefined, expected: "" });
      });
      own = this.wrapWriter(ctx, ns, ref, w);
      return own;
    };
    return {
      ref,
      status: async () =>
        own
          ? own.status()
          : {
              ref,
              offset: blob.size,
              total: blob.size,
              expected: blob.digest,
              startedAt: started,
              updatedAt: started,
            },
      digest: () => (own ? own.digest() : blob.digest),
      write: async (data) => {
        if (!own && data.length === 0) return;
        await (await unshare(blob.size)).write(data);
      },
      truncate: async (size) => {
        await (own ?? (await unshare(size))).truncate(size);
      },
      close: async () => {
        await own?.close();
      },
      commit: async (size, expected, labels) => {
        if (own) return own.commit(size, expected, labels);
        validateLabels(labels);
        if (size !== 0 && size !== blob.size) {
          throw failedPrecondition(`${JSON.stringify(ref)} failed size validation: ${blob.size} != ${size}`);
        }
        if (expected !== "" && expected !== blob.digest) {
          throw failedPrecondition(
            `${JSON.stringify(ref)} unexpected digest ${expected}, have ${blob.digest}`,
          );
        }
        return this.gcLock.shared(async () => {
          this.recordCommit(ctx, ns, ref, blob.digest, labels);
          return blob.digest;
        });
      },
    };
  }

  /** The committed blob joins the namespace; the ingest goes, and its lease hold moves to the content. */
  private recordCommit(
    ctx: RequestContext,
    ns: string,
    ref: string,
    digest: string,
    labels: Record<string, string>,
  ): void {
    this.meta.write(() => {
      this.namespaces.ensure(ns);
      const now = nowStored();
      if (this.record(ns, digest)) throw alreadyExists(`content ${digest}: already exists`);
      this.meta.put(["content", ns, digest], { labels, createdAt: now, updatedAt: now });
      this.meta.remove(this.ingestKey(ns, ref));
      this.leases.releaseInContext(ctx, { type: "ingests", id: ref });
      this.leases.holdInContext(ctx, { type: "content", id: digest });
    });
  }

  /** The backend's writer for `backendRef`; its errors name the client's ref, not the backend's. */
  private async openBackend(
    backendRef: string,
    ref: string,
    options: { total: number; expected?: string },
  ): Promise<ContentWriter> {
    try {
      return await this.backend.writer(backendRef, options);
    } catch (err) {
      if (err instanceof BerthError && err.message.includes(backendRef)) {
        throw new BerthError(err.kind, err.message.replaceAll(backendRef, ref), { cause: err });
      }
      throw err;
    }
  }

  private wrapWriter(ctx: RequestContext, ns: string, ref: string, w: ContentWriter): NamespacedWriter {
    return {
      ref,
      status: async () => ({ ...(await w.status()), ref }),
      digest: () => w.digest(),
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
            // The bytes are a blob the backend already has (from another namespace):
            // record it in this one, as containerd's metadata store does.
            if (err instanceof BlobExistsError) digest = err.digest;
            else if (isAlreadyExists(err) && expected !== "") digest = expected;
            else throw err;
          }
          this.recordCommit(ctx, ns, ref, digest, labels);
          return digest;
        });
      },
    };
  }
}
