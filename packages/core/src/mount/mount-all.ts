import { mkdtemp, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { execa } from "execa";
import { hasErrno } from "../sys/libc.js";
import { MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SILENT, mount, unmount } from "../sys/mount.js";
import type { Mount } from "./mount.js";
import { parseMountOptions } from "./options.js";

// Mounting the Mount records that snapshotters hand out. Each record is one mount(2)
// (plus a propagation change or a read-only remount when asked for), all stacked on the
// same target, in order, like containerd's mount.All.

// The kernel copies at most one page of mount data, NUL included.
const maxMountData = 4095;

/** Mounts every record onto `target` in order; on failure, unmounts what it mounted. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  const done: string[] = [];
  try {
    for (const m of mounts) {
      const at = m.target ? join(target, join(sep, m.target)) : target;
      await mountOne(m, at);
      done.push(at);
    }
  } catch (err) {
    for (const at of done.reverse()) {
      try {
        unmount(at, 0);
      } catch {
        // The original failure is the one worth reporting.
      }
    }
    throw err;
  }
}

/** Unmounts everything stacked on `target` (flags e.g. MNT_DETACH); not mounted is fine. */
export function unmountAll(target: string, flags = 0): void {
  // Bounded, so a target that keeps reporting success cannot spin forever.
  for (let i = 0; i < 128; i++) {
    try {
      unmount(target, flags);
    } catch (err) {
      if (hasErrno(err, "EINVAL", "ENOENT")) return;
      throw err;
    }
  }
  throw new Error(`unmount ${target}: still mounted after 128 unmounts`);
}

export async function mountOne(m: Mount, target: string): Promise<void> {
  const { flags, propagation, data } = parseMountOptions(m.options);
  const remountOnly = (flags & MS_REMOUNT) !== 0 && data.length === 0;
  if (!remountOnly) {
    const joined = data.join(",");
    if (m.type === "overlay" && Buffer.byteLength(joined) > maxMountData) {
      await mountOverlayCompacted(m, target);
    } else {
      mount(m.source, target, m.type, flags, joined === "" ? null : joined);
    }
  }
  if (propagation !== 0) mount(null, target, null, propagation | (flags & (MS_REC | MS_SILENT)), null);
  // A bind mount ignores MS_RDONLY on the first call; read-only takes a remount.
  if ((flags & (MS_BIND | MS_RDONLY)) === (MS_BIND | MS_RDONLY)) {
    mount(null, target, null, flags | MS_REMOUNT, null);
  }
}

/**
 * Overlay mounts with many layers have lowerdir lists longer than a page. Like
 * containerd, rewrite the lowerdirs relative to their common parent and mount from a
 * process whose working directory is that parent — a child process, because changing
 * this process's cwd would race with every relative path in flight on libuv's pool.
 */
async function mountOverlayCompacted(m: Mount, target: string): Promise<void> {
  const lowerOption = m.options.find((o) => o.startsWith("lowerdir="));
  if (!lowerOption) throw new Error(`mount ${target} (overlay): options exceed a page and have no lowerdir`);
  const lowers = lowerOption.slice("lowerdir=".length).split(":");
  const parent = commonParent(lowers);
  const relativeLowers = lowers.map((l) => relative(parent, l));
  // upperdir and workdir stay as they are: absolute, and short.
  const options = m.options.map((o) => (o === lowerOption ? `lowerdir=${relativeLowers.join(":")}` : o));
  const joined = options.join(",");
  if (Buffer.byteLength(joined) > maxMountData) {
    throw new Error(
      `mount ${target} (overlay): options are ${Buffer.byteLength(joined)} bytes even relative to ${parent}`,
    );
  }
  try {
    await execa("mount", ["--no-mtab", "-i", "-t", "overlay", "-o", joined, m.source || "overlay", target], {
      cwd: parent,
    });
  } catch (err) {
    const stderr =
      typeof err === "object" && err && "stderr" in err ? String(err.stderr).trim() : String(err);
    throw new Error(`mount overlay on ${target} (lowerdirs relative to ${parent}): ${stderr}`);
  }
}

function commonParent(paths: readonly string[]): string {
  let parent = dirname(paths[0] ?? "/");
  for (const p of paths) {
    if (!isAbsolute(p)) throw new Error(`overlay lowerdir ${p} is not absolute`);
    while (parent !== "/" && !p.startsWith(parent + sep)) parent = dirname(parent);
  }
  return parent;
}

export interface TempMountOptions {
  /** Directory under which the temporary mount point is made (default: os.tmpdir()). */
  parent?: string;
}

/**
 * Mounts `mounts` on a fresh temporary directory, runs `fn` on it, and always unmounts
 * and removes the directory afterwards. The directory is removed with rmdir, never
 * recursively: if the unmount failed, a recursive delete would reach into the mount.
 */
export async function withTempMount<T>(
  mounts: readonly Mount[],
  fn: (root: string) => Promise<T>,
  options: TempMountOptions = {},
): Promise<T> {
  const root = await mkdtemp(join(options.parent ?? tmpdir(), "berth-mount-"));
  let mounted = false;
  try {
    await mountAll(mounts, root);
    mounted = true;
    return await fn(root);
  } finally {
    try {
      if (mounted) unmountAll(root, 0);
    } finally {
      await rmdir(root);
    }
  }
}

/**
 * The same mounts, read-only: bind mounts gain "ro"; an overlay loses its upper and work
 * dirs and shows the upper as its topmost lower, since overlay refuses "ro" with an upper
 * that others may still write.
 */
export function readonlyMounts(mounts: readonly Mount[]): Mount[] {
  return mounts.map((m) => {
    if (m.type !== "overlay") {
      return { ...m, options: [...m.options.filter((o) => o !== "rw" && o !== "ro"), "ro"] };
    }
    const upper = m.options.find((o) => o.startsWith("upperdir="))?.slice("upperdir=".length);
    if (!upper) return { ...m, options: [...m.options.filter((o) => o !== "rw" && o !== "ro"), "ro"] };
    // Overlay needs two lowers when it has no upper: a lone upper becomes a bind mount.
    if (!m.options.some((o) => o.startsWith("lowerdir="))) {
      return { type: "bind", source: upper, options: ["ro", "rbind"] };
    }
    const options = m.options
      .filter((o) => !o.startsWith("upperdir=") && !o.startsWith("workdir=") && o !== "rw" && o !== "ro")
      .map((o) => (o.startsWith("lowerdir=") ? `lowerdir=${upper}:${o.slice("lowerdir=".length)}` : o));
    return { ...m, options: [...options, "ro"] };
  });
}
