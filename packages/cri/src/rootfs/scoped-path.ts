// Paths inside a container's rootfs, with symbolic links resolved as if the rootfs were
// "/" (like Go's securejoin): an image cannot make berth-cri read a host file by making
// /etc/passwd a link to it.

import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";

const MAX_LINKS = 40;

export async function resolveInRoot(root: string, path: string): Promise<string> {
  let pending = path.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = join(root, ...done, part);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch {
      // Missing: the rest cannot be links; the caller's read fails as it should.
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new Error(`too many symbolic links under ${root} resolving ${path}`);
    const target = await readlink(candidate);
    const parts = target.split("/").filter((p) => p !== "" && p !== ".");
    if (target.startsWith("/")) done.length = 0;
    pending = [...parts, ...pending];
  }
  return join(root, ...done);
}
