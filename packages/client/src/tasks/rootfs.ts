// Reading a file out of a snapshot without mounting it: an overlay's upper dir, then its
// lower dirs in order, or a bind mount's source. Only meaningful on the daemon's host,
// which is where `ctr` reads the image's /etc/passwd too (it mounts the snapshot there).

import { lstat, readFile, readlink } from "node:fs/promises";
import { posix } from "node:path";
import type { Mount } from "@berth/api/containerd/types/mount";

/** The directories a rootfs is made of, topmost first; empty when the mounts are not understood. */
export function rootfsLayers(mounts: readonly Mount[]): string[] {
  if (mounts.length !== 1) return [];
  const m = mounts[0]!;
  if (m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind")) return [m.source];
  if (m.type !== "overlay") return [];
  const option = (name: string) =>
    m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1) ?? undefined;
  const upper = option("upperdir");
  const lower = option("lowerdir");
  return [...(upper !== undefined ? [upper] : []), ...(lower !== undefined ? lower.split(":") : [])];
}

type Found = { kind: "file"; path: string } | { kind: "link"; target: string } | { kind: "absent" };

async function lookup(layers: readonly string[], path: string): Promise<Found> {
  for (const layer of layers) {
    const host = posix.join(layer, path);
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(host);
    } catch {
      // Not in this layer; an overlay whiteout for it hides the lower ones.
      const whiteout = posix.join(layer, posix.dirname(path), `.wh.${posix.basename(path)}`);
      if (await exists(whiteout)) return { kind: "absent" };
      continue;
    }
    if (st.isCharacterDevice() && st.rdev === 0) return { kind: "absent" };
    if (st.isSymbolicLink()) return { kind: "link", target: await readlink(host) };
    if (st.isFile()) return { kind: "file", path: host };
    return { kind: "absent" };
  }
  return { kind: "absent" };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The content of `path` (absolute, inside the container) in the rootfs `mounts` describe,
 * following symbolic links inside the rootfs; undefined when it is not there or cannot be
 * read from here.
 */
export async function readRootfsFile(mounts: readonly Mount[], path: string): Promise<string | undefined> {
  const layers = rootfsLayers(mounts);
  if (layers.length === 0) return undefined;
  let current = posix.normalize(path);
  for (let hops = 0; hops < 16; hops++) {
    const found = await lookup(layers, current);
    if (found.kind === "absent") return undefined;
    if (found.kind === "file") return readFile(found.path, "utf8").catch(() => undefined);
    current = posix.normalize(
      found.target.startsWith("/") ? found.target : posix.join(posix.dirname(current), found.target),
    );
  }
  return undefined;
}
