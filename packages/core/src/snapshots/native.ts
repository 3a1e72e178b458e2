import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Mount } from "../mount/mount.js";
import { copyTree } from "./copy-tree.js";
import { DirectorySnapshotter } from "./directory-snapshotter.js";
import type { SnapshotRecord, SnapshotStorage } from "./storage.js";

// Snapshots as full copies: each active snapshot or view starts as a copy of its parent
// and is handed out as a bind mount. Slow and large, but works on any filesystem.

export class NativeSnapshotter extends DirectorySnapshotter {
  private constructor(root: string, storage: SnapshotStorage) {
    super(root, storage);
  }

  static async open(root: string): Promise<NativeSnapshotter> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    return new NativeSnapshotter(root, await DirectorySnapshotter.openStorage(root));
  }

  protected async populate(dir: string, _kind: "active" | "view", parent: SnapshotRecord | undefined) {
    const fs = join(dir, "fs");
    await mkdir(fs, { mode: 0o755 });
    if (parent) await copyTree(this.fsPath(parent.id), fs);
  }

  protected mountsOf(record: SnapshotRecord): Mount[] {
    const mode = record.kind === "view" ? "ro" : "rw";
    return [{ type: "bind", source: this.fsPath(record.id), options: [mode, "rbind"] }];
  }
}
