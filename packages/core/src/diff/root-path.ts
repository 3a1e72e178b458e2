import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { hasErrno } from "../sys/libc.js";

// Resolving archive paths the way the container will see them: `root` is "/", so an
// absolute symlink target starts again at root, and ".." stops at root. Whatever a
// layer contains, the result is a path under root on the host.

const maxSymlinks = 255;

/**
 * Resolves `path` under `root`, following symlinks in every component as if root were
 * the filesystem root. Components that do not exist yet are kept as they are.
 * `root` must be absolute and already resolved (no symlinks in it).
 */
export async function rootPath(root: string, path: string): Promise<string> {
  const resolved: string[] = [];
  let pending = split(path);
  let links = 0;
  while (pending.length > 0) {
    const component = pending.shift()!;
    if (component === "..") {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, component);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (err) {
      // Missing (or under a non-directory): nothing to follow, keep the name.
      if (!hasErrno(err, "ENOENT", "ENOTDIR")) throw err;
    }
    if (!isLink) {
      resolved.push(component);
      continue;
    }
    if (++links > maxSymlinks)
      throw new Error(`resolving ${path} under ${root}: too many levels of symbolic links`);
    const target = await readlink(candidate);
    if (target.startsWith("/")) resolved.length = 0;
    pending = [...split(target), ...pending];
  }
  return join(root, ...resolved);
}

function split(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/** True when `path` is `root` or below it (lexically; both absolute and normalised). */
export function isWithin(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`);
}
