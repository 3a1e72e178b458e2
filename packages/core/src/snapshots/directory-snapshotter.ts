import { existsSync, renameSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { failedPrecondition } from "@berth/client/errdefs";
import type { Mount } from "../mount/mount.js";
import { diskUsage } from "./disk-usage.js";
import type { SnapshotInfo, SnapshotOptions, SnapshotUsage, Snapshotter } from "./snapshotter.js";
import { type SnapshotRecord, SnapshotStorage, snapshotInfo } from "./storage.js";

// What the overlay and native snapshotters share: one directory per snapshot,
//
//   <root>/metadata.lmdb          keys, kinds, parents, labels, ids
//   <root>/snapshots/<id>/fs      the snapshot's files (the upper dir, for overlay)
//   <root>/snapshots/<id>/work    overlay's work dir, for active snapshots
//
// New directories are built under a "new-" name and renamed to their id inside the
// metadata transaction; removed ones are renamed to "rm-<id>" inside it and deleted
// after. A crash at any point leaves at worst a directory no record names, which
// cleanup() deletes.

export abstract class DirectorySnapshotter implements Snapshotter {
  protected constructor(
    readonly root: string,
    protected readonly storage: SnapshotStorage,
  ) {}

  protected static async openStorage(root: string): Promise<SnapshotStorage> {
    await mkdir(join(root, "snapshots"), { recursive: true, mode: 0o700 });
    return SnapshotStorage.open(join(root, "metadata.lmdb"));
  }

  /** Fills a fresh snapshot directory (`dir` holds nothing yet) for a snapshot of `kind` on `parent`. */
  protected abstract populate(
    dir: string,
    kind: "active" | "view",
    parent: SnapshotRecord | undefined,
  ): Promise<void>;

  /** The mounts of an active snapshot or view, given its parent chain's ids (nearest first). */
  protected abstract mountsOf(record: SnapshotRecord, parentIds: number[]): Mount[];

  protected snapshotDir(id: number): string {
    return join(this.root, "snapshots", String(id));
  }

  protected fsPath(id: number): string {
    return join(this.snapshotDir(id), "fs");
  }

  protected workPath(id: number): string {
    return join(this.snapshotDir(id), "work");
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return snapshotInfo(this.storage.require(key));
  }

  async update(info: Pick<SnapshotInfo, "name" | "labels">, fieldpaths?: string[]): Promise<SnapshotInfo> {
    return snapshotInfo(this.storage.updateLabels(info.name, info.labels, fieldpaths));
  }

  async usage(key: string): Promise<SnapshotUsage> {
    const record = this.storage.require(key);
    if (record.kind === "committed") return { size: record.size, inodes: record.inodes };
    return diskUsage(this.fsPath(record.id));
  }

  async mounts(key: string): Promise<Mount[]> {
    const record = this.storage.require(key);
    if (record.kind === "committed") {
      throw failedPrecondition(`snapshot ${key} is committed, not active or a view: failed precondition`);
    }
    return this.mountsOf(record, this.storage.parentIds(record));
  }

  prepare(key: string, parent: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.create("active", key, parent, options);
  }

  view(key: string, parent: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.create("view", key, parent, options);
  }

  async commit(name: string, key: string, options?: SnapshotOptions): Promise<void> {
    const record = this.storage.require(key);
    if (record.kind !== "active") {
      throw failedPrecondition(
        `snapshot ${key} is a ${record.kind} snapshot, not active: failed precondition`,
      );
    }
    // Measured before the transaction; the snapshot is not supposed to change any more.
    const usage = await diskUsage(this.fsPath(record.id));
    this.storage.commit(key, name, options?.labels ?? {}, usage);
  }

  async remove(key: string): Promise<void> {
    const record = this.storage.require(key);
    const dir = this.snapshotDir(record.id);
    await refuseMountsUnder(dir);
    const trash = join(this.root, "snapshots", `rm-${record.id}`);
    this.storage.remove(key, () => renameSync(dir, trash));
    await rm(trash, { recursive: true, force: true });
  }

  async list(): Promise<SnapshotInfo[]> {
    return this.storage.list().map(snapshotInfo);
  }

  async cleanup(): Promise<void> {
    const inUse = new Set(this.storage.list().map((r) => String(r.id)));
    const dir = join(this.root, "snapshots");
    for (const name of await readdir(dir)) {
      if (inUse.has(name)) continue;
      const path = join(dir, name);
      await refuseMountsUnder(path);
      await rm(path, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    await this.storage.close();
  }

  private async create(
    kind: "active" | "view",
    key: string,
    parentKey: string,
    options: SnapshotOptions | undefined,
  ): Promise<Mount[]> {
    // Cheap checks first, so a doomed call does not copy a whole tree; the transaction
    // checks again.
    const parent = this.storage.checkCreate(key, parentKey);
    const staging = await mkdtemp(join(this.root, "snapshots", "new-"));
    try {
      await this.populate(staging, kind, parent);
      const record = this.storage.create(
        kind,
        key,
        parentKey,
        options?.labels ?? {},
        (id) => !existsSync(this.snapshotDir(id)),
        (id) => renameSync(staging, this.snapshotDir(id)),
      );
      return this.mountsOf(record, this.storage.parentIds(record));
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }
}

/**
 * Refuses to delete a directory with something mounted inside it: a recursive delete
 * would walk into the mount and delete what it shows.
 */
async function refuseMountsUnder(dir: string): Promise<void> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  for (const line of mountinfo.split("\n")) {
    const field = line.split(" ")[4];
    if (field === undefined) continue;
    // Octal escapes for space, tab, newline and backslash, as the kernel writes them.
    const mountPoint = field.replace(/\\([0-7]{3})/g, (_m, oct: string) =>
      String.fromCharCode(Number.parseInt(oct, 8)),
    );
    if (mountPoint === dir || mountPoint.startsWith(`${dir}/`)) {
      throw failedPrecondition(`${dir} has ${mountPoint} mounted inside; unmount it first`);
    }
  }
}
