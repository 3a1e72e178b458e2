// Pinned network namespaces: a new namespace bind-mounted on `<state>/netns/<id>`, so it
// outlives the processes in it (CNI DEL must still find it after the pod stopped) and
// berth-cri restarts. It is made and pinned in-process (sys/libc.ts createPinnedNetns), as
// util-linux's `unshare --net=FILE` would, and its `lo` is brought up there and then, before
// CNI ADD, whatever the CNI conflist holds (containerd and CRI-O do the same).

import { access, mkdir, rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, errorMessage } from "@berth/client";
import { createPinnedNetns, unmount } from "../sys/libc.js";

/** statfs(2)'s f_type of a namespace file (linux/magic.h). */
const NSFS_MAGIC = 0x6e736673;

export class NetnsManager {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, "netns");
  }

  pathOf(id: string): string {
    return join(this.dir, id);
  }

  async create(id: string): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o711 });
    const path = this.pathOf(id);
    await writeFile(path, "", { mode: 0o444 });
    try {
      await createPinnedNetns(path);
    } catch (err) {
      // The bind mount may be there when bringing lo up failed.
      await unmount(path).catch(() => undefined);
      await rm(path, { force: true });
      throw new BerthError(
        "Unknown",
        `cannot create network namespace ${path} with its loopback up: ${errorMessage(err)}`,
      );
    }
    // lo is up (createPinnedNetns); the rest is CNI's.
    return path;
  }

  /** Unpins and removes the namespace file; a missing one is not an error. */
  async remove(path: string): Promise<void> {
    if (path === "") return;
    try {
      await access(path);
    } catch {
      return;
    }
    await unmount(path);
    await rm(path, { force: true });
  }

  /** True when `path` is still a pinned namespace (a bind mount of nsfs). */
  async exists(path: string): Promise<boolean> {
    try {
      return (await statfs(path)).type === NSFS_MAGIC;
    } catch {
      return false;
    }
  }
}
