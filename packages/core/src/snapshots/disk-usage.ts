import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { SnapshotUsage } from "./snapshotter.js";

/**
 * Space and inodes used by a tree, as containerd counts them: allocated blocks rather
 * than apparent sizes, and each inode once however many names it has.
 */
export async function diskUsage(root: string): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let size = 0;
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path, { bigint: true });
    const inode = `${st.dev}:${st.ino}`;
    if (!seen.has(inode)) {
      seen.add(inode);
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await visit(join(path, name));
    }
  };
  await visit(root);
  return { size, inodes: seen.size };
}
