import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { failedPrecondition } from "@berth/client/errdefs";
import type { Mount } from "../mount/mount.js";
import { mount, unmount } from "../sys/mount.js";
import { DirectorySnapshotter } from "./directory-snapshotter.js";
import type { SnapshotRecord, SnapshotStorage } from "./storage.js";

// Snapshots as overlayfs layers: a committed snapshot's fs directory is a lower layer,
// an active snapshot's fs directory is the upper layer over its parent chain.

export class OverlaySnapshotter extends DirectorySnapshotter {
  private constructor(
    root: string,
    storage: SnapshotStorage,
    private readonly baseOptions: readonly string[],
  ) {
    super(root, storage);
  }

  /** Opens (or creates) the snapshotter at `root`; FailedPrecondition when overlay cannot work there. */
  static async open(root: string): Promise<OverlaySnapshotter> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    await checkOverlaySupport(root);
    const storage = await DirectorySnapshotter.openStorage(root);
    // With the inode index on, reusing a lower under another upper fails to mount; it
    // buys nothing for image layers. The parameter exists only where the option does.
    const baseOptions = existsSync("/sys/module/overlay/parameters/index") ? ["index=off"] : [];
    return new OverlaySnapshotter(root, storage, baseOptions);
  }

  protected async populate(dir: string, kind: "active" | "view", parent: SnapshotRecord | undefined) {
    const fs = join(dir, "fs");
    await mkdir(fs, { mode: 0o755 });
    if (kind === "active") await mkdir(join(dir, "work"), { mode: 0o711 });
    if (parent) {
      // The merged root takes its owner and mode from the upper dir: match the parent's.
      const st = await stat(this.fsPath(parent.id));
      await chown(fs, st.uid, st.gid);
      await chmod(fs, st.mode & 0o7777);
    }
  }

  protected mountsOf(record: SnapshotRecord, parentIds: number[]): Mount[] {
    const readonly = record.kind === "view";
    if (parentIds.length === 0) {
      // Overlay needs a lower layer; an empty snapshot is just its own directory.
      return [{ type: "bind", source: this.fsPath(record.id), options: [readonly ? "ro" : "rw", "rbind"] }];
    }
    const [only] = parentIds;
    if (readonly && parentIds.length === 1 && only !== undefined) {
      // Overlay refuses a single lower without an upper; the parent itself is the view.
      return [{ type: "bind", source: this.fsPath(only), options: ["ro", "rbind"] }];
    }
    const options = [...this.baseOptions];
    if (!readonly) {
      options.push(`workdir=${this.workPath(record.id)}`, `upperdir=${this.fsPath(record.id)}`);
    }
    options.push(`lowerdir=${parentIds.map((id) => this.fsPath(id)).join(":")}`);
    return [{ type: "overlay", source: "overlay", options }];
  }
}

/** The kernel knows overlay, and an overlay with two lowers and an upper mounts under `root`. */
async function checkOverlaySupport(root: string): Promise<void> {
  const filesystems = await readFile("/proc/filesystems", "utf8");
  if (!filesystems.split("\n").some((line) => line.trim().split(/\s+/).pop() === "overlay")) {
    throw failedPrecondition("overlayfs is not supported: /proc/filesystems does not list overlay");
  }
  const probe = await mkdtemp(join(root, "overlay-probe-"));
  try {
    for (const d of ["lower1", "lower2", "upper", "work", "merged"]) await mkdir(join(probe, d));
    const merged = join(probe, "merged");
    const data = `lowerdir=${join(probe, "lower2")}:${join(probe, "lower1")},upperdir=${join(probe, "upper")},workdir=${join(probe, "work")}`;
    try {
      mount("overlay", merged, "overlay", 0, data);
    } catch (err) {
      throw failedPrecondition(`overlayfs cannot be used under ${root}: ${(err as Error).message}`);
    }
    unmount(merged, 0);
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}
