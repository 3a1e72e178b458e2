// Pinned network namespaces: a new namespace bind-mounted on `<state>/netns/<id>`, so it
// outlives the processes in it (CNI DEL must still find it after the pod stopped) and
// berth-cri restarts. util-linux's `unshare --net=FILE` creates and pins it in one step.

import { access, mkdir, rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "@berth/client";
import { execa } from "execa";
import { unmount } from "../sys/libc.js";

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
    const r = await execa("unshare", [`--net=${path}`, "true"], { reject: false, timeout: 30_000 });
    if (r.exitCode !== 0) {
      await rm(path, { force: true });
      throw new BerthError(
        "Unknown",
        `cannot create network namespace ${path}: unshare --net exited ${r.exitCode ?? r.signal}: ${r.stderr.trim()}`,
      );
    }
    // Loopback comes up through CNI's loopback plugin; nothing else is configured here.
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
