import type { BigIntStats } from "node:fs";
import { createReadStream } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { failedPrecondition } from "@berth/client/errdefs";
import { major, minor } from "../sys/device.js";
import { lgetxattr } from "../sys/xattr.js";
import { type TarEntry, TarWriter } from "./tar.js";

// Computing a layer: the changes that turn one tree into another, as an OCI layer tar.
// Like containerd's walking differ, both trees are walked side by side in name order;
// an entry is changed when its type, mode, owner, device, size, mtime, symlink target
// or file capability differs, and when the mtimes match only to the second (as after a
// trip through tar) the contents are compared too. Other xattrs are neither compared
// nor written, as in containerd. Deleted paths become ".wh." entries, files that share
// an inode become hardlinks, and the unchanged directories above a change are written
// too, so that applying the layer keeps their attributes.

export interface WriteDiffOptions {
  signal?: AbortSignal;
}

/**
 * Writes the changes from `lowerDir` (null: an empty tree) to `upperDir` to `out` as an
 * uncompressed tar, ending with the end-of-archive marker; `out` is not ended.
 */
export async function writeDiff(
  lowerDir: string | null,
  upperDir: string,
  out: Writable,
  options: WriteDiffOptions = {},
): Promise<void> {
  const writer = new ChangeWriter(new TarWriter(out), options.signal);
  await compareDirectory(writer, "", lowerDir, upperDir);
  await writer.finish();
}

/**
 * Writes an overlayfs upper dir as a layer: everything in it is a change, 0/0 character
 * devices are deletions and opaque directories hide their lower contents. Refuses upper
 * dirs that use redirect_dir or metacopy, whose changes only the lowers can explain.
 */
export async function writeDiffFromOverlayUpper(
  upperDir: string,
  out: Writable,
  options: WriteDiffOptions = {},
): Promise<void> {
  const writer = new ChangeWriter(new TarWriter(out), options.signal);
  await walkUpper(writer, "", upperDir);
  await writer.finish();
}

type Stat = BigIntStats;

interface Ancestor {
  rel: string;
  path: string;
  st: Stat;
}

class ChangeWriter {
  /** The directories from the top down to the one being walked. */
  readonly ancestors: Ancestor[] = [];
  private readonly writtenDirs = new Set<string>();
  private readonly inodes = new Map<string, string>();

  constructor(
    private readonly tar: TarWriter,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async change(rel: string, path: string, st: Stat): Promise<void> {
    this.signal?.throwIfAborted();
    if (st.isSocket()) return;
    await this.writeAncestors();
    await this.write(rel, path, st);
  }

  private async write(rel: string, path: string, st: Stat): Promise<void> {
    const entry: TarEntry = {
      name: rel,
      type: "file",
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: 0,
      mtimeNs: st.mtimeNs,
    };
    const capability = lgetxattr(path, "security.capability");
    if (capability) entry.xattrs = new Map([["security.capability", capability]]);

    if (st.isDirectory()) {
      entry.type = "directory";
      this.writtenDirs.add(rel);
      return this.tar.add(entry);
    }
    if (st.isSymbolicLink())
      return this.tar.add({ ...entry, type: "symlink", linkname: await readlink(path) });
    if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const type = st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "char" : "block";
      return this.tar.add({ ...entry, type, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    }
    if (st.nlink > 1n) {
      const inode = `${st.dev}:${st.ino}`;
      const first = this.inodes.get(inode);
      if (first !== undefined) return this.tar.add({ ...entry, type: "link", linkname: first });
      this.inodes.set(inode, rel);
    }
    await this.tar.add({ ...entry, size: Number(st.size) }, createReadStream(path));
  }

  async whiteout(dirRel: string, name: string): Promise<void> {
    this.signal?.throwIfAborted();
    await this.writeAncestors();
    await this.tar.add({
      name: dirRel === "" ? name : `${dirRel}/${name}`,
      type: "file",
      mode: 0,
      uid: 0,
      gid: 0,
      size: 0,
      mtimeNs: 0n,
    });
  }

  async finish(): Promise<void> {
    await this.tar.finish();
  }

  private async writeAncestors(): Promise<void> {
    for (const a of this.ancestors) {
      if (!this.writtenDirs.has(a.rel)) await this.write(a.rel, a.path, a.st);
    }
  }
}

async function compareDirectory(
  writer: ChangeWriter,
  rel: string,
  lowerDir: string | null,
  upperDir: string,
): Promise<void> {
  const upperNames = sortNames(await readdir(upperDir));
  const lowerNames = lowerDir === null ? [] : sortNames(await readdir(lowerDir));
  const inLower = new Set(lowerNames);
  const inUpper = new Set(upperNames);
  const names = sortNames([...new Set([...lowerNames, ...upperNames])]);
  for (const name of names) {
    const childRel = rel === "" ? name : `${rel}/${name}`;
    const upperPath = join(upperDir, name);
    if (!inUpper.has(name)) {
      await writer.whiteout(rel, `.wh.${name}`);
      continue;
    }
    const u = await lstat(upperPath, { bigint: true });
    const lowerPath = lowerDir === null || !inLower.has(name) ? null : join(lowerDir, name);
    const l = lowerPath === null ? undefined : await lstat(lowerPath, { bigint: true });
    const sameType = l !== undefined && (l.mode & 0o170000n) === (u.mode & 0o170000n);

    if (!sameType) {
      // Added, or replaced by another kind of file: applying it replaces whatever was there.
      await writer.change(childRel, upperPath, u);
      if (u.isDirectory()) await descend(writer, childRel, upperPath, u, null);
      continue;
    }
    if (u.isDirectory()) {
      if (await changed(lowerPath!, l, upperPath, u)) await writer.change(childRel, upperPath, u);
      await descend(writer, childRel, upperPath, u, lowerPath);
      continue;
    }
    if (await changed(lowerPath!, l, upperPath, u)) await writer.change(childRel, upperPath, u);
  }
}

async function descend(
  writer: ChangeWriter,
  rel: string,
  upperPath: string,
  st: Stat,
  lowerPath: string | null,
): Promise<void> {
  writer.ancestors.push({ rel, path: upperPath, st });
  try {
    await compareDirectory(writer, rel, lowerPath, upperPath);
  } finally {
    writer.ancestors.pop();
  }
}

async function walkUpper(writer: ChangeWriter, rel: string, dir: string): Promise<void> {
  for (const name of sortNames(await readdir(dir))) {
    const childRel = rel === "" ? name : `${rel}/${name}`;
    const path = join(dir, name);
    const st = await lstat(path, { bigint: true });
    if (st.isCharacterDevice() && st.rdev === 0n) {
      await writer.whiteout(rel, `.wh.${name}`);
      continue;
    }
    for (const attr of ["trusted.overlay.redirect", "trusted.overlay.metacopy"]) {
      if (lgetxattr(path, attr) !== undefined) {
        throw failedPrecondition(`${path} has ${attr}: this upper dir cannot be read without its lowers`);
      }
    }
    await writer.change(childRel, path, st);
    if (!st.isDirectory()) continue;
    if (lgetxattr(path, "trusted.overlay.opaque")?.toString() === "y") {
      await writer.whiteout(childRel, ".wh..wh..opq");
    }
    writer.ancestors.push({ rel: childRel, path, st });
    try {
      await walkUpper(writer, childRel, path);
    } finally {
      writer.ancestors.pop();
    }
  }
}

async function changed(lowerPath: string, l: Stat, upperPath: string, u: Stat): Promise<boolean> {
  if (l.mode !== u.mode || l.uid !== u.uid || l.gid !== u.gid || l.rdev !== u.rdev) return true;
  if (u.isFile() && l.size !== u.size) return true;
  if (l.mtimeNs !== u.mtimeNs) return true;
  if (u.isSymbolicLink() && (await readlink(lowerPath)) !== (await readlink(upperPath))) return true;
  if (!bytesEqual(lgetxattr(lowerPath, "security.capability"), lgetxattr(upperPath, "security.capability"))) {
    return true;
  }
  // Equal mtimes with no sub-second part may only mean both went through tar.
  if (u.isFile() && u.mtimeNs % 1_000_000_000n === 0n && u.size > 0n) {
    return !(await sameContent(lowerPath, upperPath));
  }
  return false;
}

function bytesEqual(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.equals(b);
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a, "r"), open(b, "r")]);
  try {
    const size = 64 * 1024;
    const ba = Buffer.alloc(size);
    const bb = Buffer.alloc(size);
    for (let offset = 0; ; offset += size) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, size, offset), fb.read(bb, 0, size, offset)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

/** Byte order of the UTF-8 names, as Go sorts them, so layers come out the same each time. */
function sortNames(names: string[]): string[] {
  return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
