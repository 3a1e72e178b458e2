// Garbage collection, containerd style: mark everything reachable from the roots
// (images, containers, live leases, records labelled containerd.io/gc.root) through
// references (image → target, content → containerd.io/gc.ref.* labels, snapshot →
// parent and labels, container → its snapshot), sweep the rest from metadata in one
// transaction, then delete the files that no namespace references any more.
import { isNotFound } from "@berth/client/errdefs";
import type { ContentStore } from "../content/store.js";
import type { MetadataDB } from "./db.js";
import type { GcLock } from "./gc-lock.js";
import { leaseExpired } from "./leases.js";
import type { NamespacedSnapshotter, StoredSnapshot } from "./snapshots.js";

const refContent = "containerd.io/gc.ref.content";
const refSnapshot = "containerd.io/gc.ref.snapshot.";
const rootLabel = "containerd.io/gc.root";

type Node = string; // "c|ns|digest", "s|ns|snapshotter|key", "i|ns|ref"

export interface GcStats {
  contentRemoved: number;
  snapshotsRemoved: number;
  ingestsRemoved: number;
  leasesExpired: number;
  blobsDeleted: number;
  durationMs: number;
}

export interface GcLogger {
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
}

/** References a set of labels makes: content digests and snapshotter/key pairs. */
export function labelReferences(labels: Record<string, string>): {
  content: string[];
  snapshots: [string, string][];
} {
  const content: string[] = [];
  const snapshots: [string, string][] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (k === refContent || k.startsWith(`${refContent}.`)) content.push(v);
    else if (k.startsWith(refSnapshot)) {
      const snapshotter = k.slice(refSnapshot.length).split("/")[0] ?? "";
      if (snapshotter !== "") snapshots.push([snapshotter, v]);
    }
  }
  return { content, snapshots };
}

export class GarbageCollector {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<GcStats> | null = null;
  private again = false;

  constructor(
    private readonly meta: MetadataDB,
    private readonly content: ContentStore,
    private readonly snapshotters: Map<string, NamespacedSnapshotter>,
    private readonly gcLock: GcLock,
    private readonly log: GcLogger,
    private readonly delayMs = 100,
  ) {}

  /** Runs a collection soon, coalescing bursts of deletions into one. */
  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.collect().catch((err) => this.log.warn("garbage collection failed", { error: String(err) }));
    }, this.delayMs);
    this.timer.unref();
  }

  /** Runs a collection now (after any running one) and resolves when files are gone. */
  async collect(): Promise<GcStats> {
    if (this.running) {
      this.again = true;
      await this.running.catch(() => undefined);
      if (this.running) return this.running;
    }
    this.again = false;
    this.running = this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<GcStats> {
    const started = Date.now();
    return this.gcLock.exclusively(async () => {
      const swept = this.meta.write(() => this.markAndSweep());
      const stats: GcStats = { ...swept.stats, blobsDeleted: 0, durationMs: 0 };
      // Files: ingests swept from metadata, then blobs and snapshots nobody references.
      const liveIngests = new Set(
        this.meta.range<{ backendRef: string }>(["ingest"]).map((r) => r.value.backendRef),
      );
      for (const st of await this.content.listStatuses()) {
        if (!liveIngests.has(st.ref)) await this.content.abort(st.ref).catch(ignoreNotFound);
      }
      const liveBlobs = new Set(this.meta.range(["content"]).map((r) => String(r.key[2])));
      // A shared ingest (see NamespacedContentStore.writer) commits a blob it does not copy.
      for (const { value } of this.meta.range<{ expected: string; shared?: boolean }>(["ingest"])) {
        if (value.shared) liveBlobs.add(value.expected);
      }
      for (const info of await this.content.list()) {
        if (liveBlobs.has(info.digest)) continue;
        await this.content.delete(info.digest).catch(ignoreNotFound);
        stats.blobsDeleted++;
      }
      for (const sn of this.snapshotters.values()) await this.sweepBackendSnapshots(sn);
      stats.durationMs = Date.now() - started;
      if (
        stats.contentRemoved +
          stats.snapshotsRemoved +
          stats.ingestsRemoved +
          stats.blobsDeleted +
          stats.leasesExpired >
        0
      ) {
        this.log.info("garbage collected", { ...stats });
      }
      return stats;
    });
  }

  private async sweepBackendSnapshots(sn: NamespacedSnapshotter): Promise<void> {
    const live = sn.referencedBackendKeys();
    const all = await sn.backend.list();
    const dead = all.filter((s) => !live.has(s.name));
    // Children before parents: remove repeatedly while something still has children.
    let pending = dead;
    for (let round = 0; round < 64 && pending.length > 0; round++) {
      const parents = new Set(
        all.filter((s) => pending.some((p) => p.name === s.name) || live.has(s.name)).map((s) => s.parent),
      );
      const leaves = pending.filter((s) => !parents.has(s.name));
      if (leaves.length === 0) break;
      for (const s of leaves) {
        await sn.backend.remove(s.name).catch((err) => {
          if (!isNotFound(err))
            this.log.warn("could not remove snapshot", {
              snapshotter: sn.name,
              key: s.name,
              error: String(err),
            });
        });
      }
      const removed = new Set(leaves.map((s) => s.name));
      pending = pending.filter((s) => !removed.has(s.name));
      for (let i = all.length - 1; i >= 0; i--) if (removed.has(all[i]!.name)) all.splice(i, 1);
    }
  }

  private markAndSweep(): { stats: Omit<GcStats, "blobsDeleted" | "durationMs"> } {
    const now = Date.now();
    const marked = new Set<Node>();
    const queue: Node[] = [];
    const mark = (n: Node) => {
      if (!marked.has(n)) {
        marked.add(n);
        queue.push(n);
      }
    };
    const markLabels = (ns: string, labels: Record<string, string>) => {
      const refs = labelReferences(labels);
      for (const d of refs.content) mark(`c|${ns}|${d}`);
      for (const [snapshotter, key] of refs.snapshots) mark(`s|${ns}|${snapshotter}|${key}`);
    };

    let leasesExpired = 0;
    for (const { key, value } of this.meta.range<{ labels: Record<string, string> }>(["lease"])) {
      const [, ns, id] = key as [string, string, string];
      if (leaseExpired(value.labels, now)) {
        this.meta.remove(key);
        for (const r of this.meta.range(["leaseres", ns, id])) this.meta.remove(r.key);
        leasesExpired++;
      }
    }
    for (const { key } of this.meta.range(["leaseres"])) {
      const [, ns, , type, id] = key as [string, string, string, string, string];
      if (type === "content") mark(`c|${ns}|${id}`);
      else if (type === "ingests") mark(`i|${ns}|${id}`);
      else if (type.startsWith("snapshots/")) mark(`s|${ns}|${type.slice("snapshots/".length)}|${id}`);
    }
    // An ingest opened outside a lease is kept until it expires, as containerd keeps it.
    for (const { key, value } of this.meta.range<{ expireAt?: number }>(["ingest"])) {
      if (value.expireAt !== undefined && value.expireAt > now) mark(`i|${key[1]}|${key[2]}`);
    }
    for (const { key, value } of this.meta.range<{
      labels: Record<string, string>;
      target: { digest: string };
    }>(["image"])) {
      const ns = String(key[1]);
      mark(`c|${ns}|${value.target.digest}`);
      markLabels(ns, value.labels);
    }
    for (const { key, value } of this.meta.range<{
      labels: Record<string, string>;
      snapshotter: string;
      snapshotKey: string;
    }>(["container"])) {
      const ns = String(key[1]);
      if (value.snapshotKey) mark(`s|${ns}|${value.snapshotter}|${value.snapshotKey}`);
      markLabels(ns, value.labels ?? {});
    }
    for (const { key, value } of this.meta.range<{ labels: Record<string, string> }>(["content"])) {
      if (value.labels[rootLabel] !== undefined) mark(`c|${key[1]}|${key[2]}`);
    }
    for (const { key, value } of this.meta.range<StoredSnapshot>(["snap"])) {
      if (value.labels[rootLabel] !== undefined) mark(`s|${key[1]}|${key[2]}|${key[3]}`);
    }

    for (let i = 0; i < queue.length; i++) {
      const node = queue[i]!;
      const parts = node.split("|");
      if (parts[0] === "c") {
        const rec = this.meta.get<{ labels: Record<string, string> }>(["content", parts[1]!, parts[2]!]);
        if (rec) markLabels(parts[1]!, rec.labels);
      } else if (parts[0] === "s") {
        const rec = this.meta.get<StoredSnapshot>(["snap", parts[1]!, parts[2]!, parts[3]!]);
        if (rec) {
          if (rec.parent) mark(`s|${parts[1]}|${parts[2]}|${rec.parent}`);
          markLabels(parts[1]!, rec.labels);
        }
      }
    }

    let contentRemoved = 0;
    let snapshotsRemoved = 0;
    let ingestsRemoved = 0;
    for (const { key } of this.meta.range(["content"])) {
      if (!marked.has(`c|${key[1]}|${key[2]}`)) {
        this.meta.remove(key);
        contentRemoved++;
      }
    }
    for (const { key } of this.meta.range(["snap"])) {
      if (!marked.has(`s|${key[1]}|${key[2]}|${key[3]}`)) {
        this.meta.remove(key);
        snapshotsRemoved++;
      }
    }
    for (const { key } of this.meta.range(["ingest"])) {
      if (!marked.has(`i|${key[1]}|${key[2]}`)) {
        this.meta.remove(key);
        ingestsRemoved++;
      }
    }
    return { stats: { contentRemoved, snapshotsRemoved, ingestsRemoved, leasesExpired } };
  }
}

function ignoreNotFound(err: unknown): void {
  if (!isNotFound(err)) throw err;
}
