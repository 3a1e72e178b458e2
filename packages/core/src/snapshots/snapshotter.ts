import type { Mount } from "../mount/mount.js";

// A snapshotter keeps filesystem snapshots in a parent/child chain, as containerd's
// Snapshotter interface does: committed snapshots are read-only parents; active ones
// are writable; views are read-only children. Keys here are backend keys, with no
// namespaces: the metadata layer maps namespaced names onto them.

export type SnapshotKind = "view" | "active" | "committed";

export interface SnapshotInfo {
  kind: SnapshotKind;
  name: string;
  /** Name of the parent (a committed snapshot), or "" for none. */
  parent: string;
  labels: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

export interface SnapshotUsage {
  size: number;
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

export interface Snapshotter {
  /** NotFound when absent. */
  stat(key: string): Promise<SnapshotInfo>;
  /** Replaces labels (all of them, or those named in fieldpaths as `labels.<key>`). */
  update(info: Pick<SnapshotInfo, "name" | "labels">, fieldpaths?: string[]): Promise<SnapshotInfo>;
  usage(key: string): Promise<SnapshotUsage>;
  /** Mounts of an active snapshot or view; NotFound when absent, FailedPrecondition for committed. */
  mounts(key: string): Promise<Mount[]>;
  /** New active snapshot on top of `parent` (committed) or empty. AlreadyExists when the key is taken. */
  prepare(key: string, parent: string, options?: SnapshotOptions): Promise<Mount[]>;
  /** New read-only view of `parent`. */
  view(key: string, parent: string, options?: SnapshotOptions): Promise<Mount[]>;
  /** Turns the active snapshot `key` into the committed snapshot `name`. */
  commit(name: string, key: string, options?: SnapshotOptions): Promise<void>;
  /** FailedPrecondition when it still has children. */
  remove(key: string): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
  /** Removes directories left behind by removed snapshots (crash leftovers). */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}
