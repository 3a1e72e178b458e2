// The metadata layer: every namespaced store over one lmdb database, plus the garbage
// collector that keeps the shared content store and snapshotters in step with it.
import { join } from "node:path";
import type { ContentStore } from "../content/store.js";
import type { Snapshotter } from "../snapshots/snapshotter.js";
import { ContainerStore } from "./containers.js";
import { NamespacedContentStore } from "./content.js";
import { type MetadataDB, openMetadataDB } from "./db.js";
import { GcLock } from "./gc-lock.js";
import { GarbageCollector, type GcLogger } from "./gc.js";
import { ImageStore } from "./images.js";
import { LeaseStore } from "./leases.js";
import { NamespaceStore } from "./namespaces.js";
import { NamespacedSnapshotter } from "./snapshots.js";

export interface MetadataOptions {
  /** How long after a deletion garbage collection runs, coalescing a burst into one (ms). */
  gcScheduleDelayMs?: number;
}

export class Metadata {
  readonly namespaces: NamespaceStore;
  readonly images: ImageStore;
  readonly leases: LeaseStore;
  readonly containers: ContainerStore;
  readonly content: NamespacedContentStore;
  readonly snapshotters = new Map<string, NamespacedSnapshotter>();
  readonly gc: GarbageCollector;
  private readonly gcLock = new GcLock();

  constructor(
    readonly db: MetadataDB,
    contentStore: ContentStore,
    snapshotters: Record<string, Snapshotter>,
    log: GcLogger,
    options: MetadataOptions = {},
  ) {
    this.namespaces = new NamespaceStore(db);
    this.images = new ImageStore(db, this.namespaces);
    this.leases = new LeaseStore(db, this.namespaces);
    this.containers = new ContainerStore(db, this.namespaces, this.leases);
    this.content = new NamespacedContentStore(db, contentStore, this.namespaces, this.leases, this.gcLock);
    for (const [name, sn] of Object.entries(snapshotters)) {
      this.snapshotters.set(
        name,
        new NamespacedSnapshotter(name, db, sn, this.namespaces, this.leases, this.gcLock),
      );
    }
    this.gc = new GarbageCollector(
      db,
      contentStore,
      this.snapshotters,
      this.gcLock,
      log,
      options.gcScheduleDelayMs,
    );
  }

  static open(
    dir: string,
    contentStore: ContentStore,
    snapshotters: Record<string, Snapshotter>,
    log: GcLogger,
    options: MetadataOptions = {},
  ): Metadata {
    return new Metadata(openMetadataDB(join(dir, "meta.lmdb")), contentStore, snapshotters, log, options);
  }

  async close(): Promise<void> {
    await this.gc.close();
    await this.db.close();
  }
}
