import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "@berth/client/errdefs";
import { type Database, type RootDatabase, open } from "lmdb";
import { type StoredTime, fromStored, nowStored } from "../metadata/time.js";
import type { SnapshotInfo, SnapshotKind, SnapshotUsage } from "./snapshotter.js";

// The metadata a snapshotter keeps about its own snapshots, in an lmdb file beside the
// snapshot directories (containerd's snapshots/storage on bbolt, in spirit). Every
// change is one synchronous write transaction; callers do their filesystem work before
// it (make a directory aside) or inside it (rename into place, which aborts the
// transaction when it throws), so the metadata never names a directory that is not whole.

export interface SnapshotRecord {
  /** Directory name under <root>/snapshots. */
  id: number;
  kind: SnapshotKind;
  name: string;
  parent: string;
  labels: Record<string, string>;
  createdAt: StoredTime;
  updatedAt: StoredTime;
  /** Usage measured at commit; zero for active snapshots and views. */
  size: number;
  inodes: number;
  /** Number of snapshots whose parent this is. */
  children: number;
}

export class SnapshotStorage {
  private constructor(
    private readonly env: RootDatabase,
    private readonly snapshots: Database<SnapshotRecord, string>,
    private readonly meta: Database<number, string>,
  ) {}

  static open(path: string): SnapshotStorage {
    // Without overlappingSync a commit has reached the disk when transactionSync returns,
    // as bbolt's commits have for containerd; the default would return before the flush.
    const env = open({ path, maxDbs: 4, overlappingSync: false });
    return new SnapshotStorage(
      env,
      env.openDB<SnapshotRecord, string>({ name: "snapshots" }),
      env.openDB<number, string>({ name: "meta" }),
    );
  }

  async close(): Promise<void> {
    await this.env.close();
  }

  /** Runs `fn` as one write transaction: all of it is stored, or none of it if it throws. */
  write<T>(fn: () => T): T {
    return this.env.transactionSync(fn);
  }

  get(key: string): SnapshotRecord | undefined {
    return this.snapshots.get(key);
  }

  /** The record, or NotFound. */
  require(key: string): SnapshotRecord {
    const record = this.get(key);
    if (!record) throw notFound(`snapshot ${key} does not exist: not found`);
    return record;
  }

  /** Ids of the parent chain, nearest first. */
  parentIds(record: SnapshotRecord): number[] {
    const ids: number[] = [];
    for (let parent = record.parent; parent !== ""; ) {
      const p = this.require(parent);
      ids.push(p.id);
      parent = p.parent;
    }
    return ids;
  }

  list(): SnapshotRecord[] {
    return Array.from(this.snapshots.getRange({}), ({ value }) => value);
  }

  /** Throws what create() would for this key and parent; returns the parent's record. */
  checkCreate(key: string, parent: string): SnapshotRecord | undefined {
    if (key === "") throw invalidArgument("snapshot key must not be empty");
    if (this.get(key)) throw alreadyExists(`snapshot ${key} already exists`);
    if (parent === "") return undefined;
    const p = this.get(parent);
    if (!p) throw notFound(`parent snapshot ${parent} does not exist: not found`);
    if (p.kind !== "committed") throw invalidArgument(`parent ${parent} is not a committed snapshot`);
    return p;
  }

  /**
   * Adds an active snapshot or view and hands its new id to `place`, which must put the
   * directory there (inside the transaction: if it throws, nothing is recorded).
   * `isFree(id)` says whether a directory of that id may be created; ids left behind by
   * a crash between the rename and the commit are skipped.
   */
  create(
    kind: "active" | "view",
    key: string,
    parent: string,
    labels: Record<string, string>,
    isFree: (id: number) => boolean,
    place: (id: number) => void,
  ): SnapshotRecord {
    return this.write(() => {
      const p = this.checkCreate(key, parent);
      if (p) this.snapshots.put(parent, { ...p, children: p.children + 1 });
      let id = this.meta.get("nextId") ?? 1;
      while (!isFree(id)) id++;
      this.meta.put("nextId", id + 1);
      const now = nowStored();
      const record: SnapshotRecord = {
        id,
        kind,
        name: key,
        parent,
        labels: { ...labels },
        createdAt: now,
        updatedAt: now,
        size: 0,
        inodes: 0,
        children: 0,
      };
      this.snapshots.put(key, record);
      place(id);
      return record;
    });
  }

  /** Turns the active snapshot `key` into the committed snapshot `name`. */
  commit(key: string, name: string, labels: Record<string, string>, usage: SnapshotUsage): SnapshotRecord {
    return this.write(() => {
      const active = this.require(key);
      if (active.kind !== "active") {
        throw failedPrecondition(
          `snapshot ${key} is a ${active.kind} snapshot, not active: failed precondition`,
        );
      }
      if (name === "") throw invalidArgument("snapshot name must not be empty");
      if (this.get(name)) throw alreadyExists(`snapshot ${name} already exists`);
      const now = nowStored();
      const committed: SnapshotRecord = {
        ...active,
        kind: "committed",
        name,
        labels: { ...labels },
        createdAt: now,
        updatedAt: now,
        size: usage.size,
        inodes: usage.inodes,
      };
      this.snapshots.remove(key);
      this.snapshots.put(name, committed);
      return committed;
    });
  }

  /** Removes the record (FailedPrecondition while it has children) and calls `detach` with it. */
  remove(key: string, detach: (record: SnapshotRecord) => void): SnapshotRecord {
    return this.write(() => {
      const record = this.require(key);
      if (record.children > 0) {
        throw failedPrecondition(`cannot remove snapshot ${key} with ${record.children} child(ren)`);
      }
      if (record.parent !== "") {
        const p = this.require(record.parent);
        this.snapshots.put(record.parent, { ...p, children: Math.max(0, p.children - 1) });
      }
      this.snapshots.remove(key);
      detach(record);
      return record;
    });
  }

  /** Replaces labels, all of them or those named by `labels.<key>` fieldpaths. */
  updateLabels(
    key: string,
    labels: Record<string, string>,
    fieldpaths: readonly string[] = [],
  ): SnapshotRecord {
    return this.write(() => {
      const record = this.require(key);
      let next: Record<string, string>;
      if (fieldpaths.length === 0) {
        next = { ...labels };
      } else {
        next = { ...record.labels };
        for (const path of fieldpaths) {
          if (path === "labels") {
            next = { ...labels };
          } else if (path.startsWith("labels.")) {
            const label = path.slice("labels.".length);
            const value = labels[label];
            if (value === undefined) delete next[label];
            else next[label] = value;
          } else {
            throw invalidArgument(`cannot update ${JSON.stringify(path)} field on snapshot ${key}`);
          }
        }
      }
      const updated = { ...record, labels: next, updatedAt: nowStored() };
      this.snapshots.put(key, updated);
      return updated;
    });
  }
}

export function snapshotInfo(record: SnapshotRecord): SnapshotInfo {
  return {
    kind: record.kind,
    name: record.name,
    parent: record.parent,
    labels: { ...record.labels },
    createdAt: fromStored(record.createdAt),
    updatedAt: fromStored(record.updatedAt),
  };
}
