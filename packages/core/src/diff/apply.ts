import { constants, type BigIntStats, type Stats } from "node:fs";
import { chmod, lchown, link, lstat, mkdir, open, readdir, realpath, rm, symlink } from "node:fs/promises";
import { dirname, join, posix, relative } from "node:path";
import type { Readable } from "node:stream";
import { invalidArgument } from "@berth/client/errdefs";
import { S_IFBLK, S_IFCHR, S_IFIFO, makedev, mknod } from "../sys/device.js";
import { hasErrno } from "../sys/libc.js";
import { lutimesNs } from "../sys/time.js";
import { lgetxattr, llistxattr, lsetxattr } from "../sys/xattr.js";
import { isWithin, rootPath } from "./root-path.js";
import { type TarHeader, TarReader } from "./tar.js";

export { decompressIfNeeded, Sha256Tap } from "./compression.js";

// Unpacking an image layer onto a directory, as containerd's archive.Apply does.
//
// Every entry's parent directory is resolved inside root (symlinks included, as the
// container would see them), so nothing a layer says can create, link or change a file
// outside root. Whiteouts either become overlayfs whiteouts (when root is an overlay
// upper dir, whose lower layers are not in it) or delete what they name (when root
// already holds the lower layers' files).

export interface ApplyOptions {
  /** "overlay": write whiteouts as overlayfs does; "remove": delete what they hide. */
  whiteouts: "overlay" | "remove";
  signal?: AbortSignal;
  /**
   * The lower layers (nearest first) of the overlay whose upper dir is root. A directory
   * that a layer only implies (a file inside it, no entry of its own) then takes the
   * attributes it has below, instead of hiding them with defaults.
   */
  parents?: readonly string[];
  /** Told about what was skipped rather than failed: xattrs the filesystem refuses. */
  onWarning?: (message: string) => void;
}

const whiteoutPrefix = ".wh.";
const writeBatchBytes = 1 << 20;

/** What is left of `bufs` after its first `written` bytes. */
function remainder(bufs: Buffer[], written: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = written;
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
const opaqueWhiteout = ".wh..wh..opq";

/** Applies an uncompressed layer tar to `root`; returns the number of bytes read from the stream. */
export async function applyLayer(
  tar: Readable,
  root: string,
  options: ApplyOptions,
): Promise<{ size: number }> {
  const applier = new LayerApplier(await realpath(root), options);
  const reader = new TarReader(tar);
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const header = await reader.next();
      if (!header) break;
      await applier.entry(header, reader);
    }
    await applier.finish();
    await reader.drain();
  } catch (err) {
    tar.destroy();
    throw err;
  }
  return { size: reader.bytesRead };
}

class LayerApplier {
  /** Paths this layer wrote, and the directories above them: an opaque whiteout keeps these. */
  private readonly unpacked = new Set<string>();
  private readonly aboveUnpacked = new Set<string>();
  /** Directories whose times are set last, once nothing else will be created in them. */
  private readonly dirs: TarHeader[] = [];

  constructor(
    private readonly root: string,
    private readonly options: ApplyOptions,
  ) {}

  async entry(header: TarHeader, reader: TarReader): Promise<void> {
    const name = posix.normalize(`/${header.name}`);
    if (name === "/") return;
    const base = posix.basename(name);
    const parent = await rootPath(this.root, posix.dirname(name));
    const path = join(parent, base);
    if (!isWithin(this.root, parent) || dirname(path) !== parent) {
      throw new Error(`layer entry ${header.name} resolved outside ${this.root}`);
    }
    if (parent !== this.root) await this.makeParents(parent);

    if (base === opaqueWhiteout) return this.opaque(parent);
    if (base.startsWith(whiteoutPrefix))
      return this.whiteout(parent, base.slice(whiteoutPrefix.length), header);

    const existing = await lstatOrUndefined(path);
    if (existing && !(existing.isDirectory() && header.type === "directory")) {
      await rm(path, { recursive: true, force: true });
    }
    await this.create(path, header, reader, existing?.isDirectory() ?? false);
    this.markUnpacked(path);
    if (header.type === "directory") this.dirs.push(header);
  }

  async finish(): Promise<void> {
    // Re-resolved: a later entry may have replaced a directory on the way with a symlink.
    for (const header of this.dirs) {
      const name = posix.normalize(`/${header.name}`);
      const path = join(await rootPath(this.root, posix.dirname(name)), posix.basename(name));
      const st = await lstatOrUndefined(path);
      if (st?.isDirectory())
        lutimesNs(path, boundTime(header.atimeNs ?? header.mtimeNs), boundTime(header.mtimeNs));
    }
  }

  private async create(path: string, header: TarHeader, reader: TarReader, isDir: boolean): Promise<void> {
    switch (header.type) {
      case "directory":
        if (!isDir) await mkdir(path, { mode: 0o700 });
        break;
      case "file": {
        const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
        const file = await open(path, flags, 0o600);
        try {
          // Pieces are gathered into writes of about a MiB: one pool round trip per
          // decompressed chunk would dominate the time of a large layer.
          let offset = 0;
          let pending: Buffer[] = [];
          let pendingBytes = 0;
          const flush = async () => {
            let bufs = pending;
            let left = pendingBytes;
            pending = [];
            pendingBytes = 0;
            while (left > 0) {
              const { bytesWritten } = await file.writev(bufs, offset);
              offset += bytesWritten;
              left -= bytesWritten;
              if (left > 0) bufs = remainder(bufs, bytesWritten);
            }
          };
          for await (const chunk of reader.body()) {
            this.options.signal?.throwIfAborted();
            pending.push(chunk);
            pendingBytes += chunk.length;
            if (pendingBytes >= writeBatchBytes) await flush();
          }
          await flush();
        } finally {
          await file.close();
        }
        break;
      }
      case "symlink":
        // The target is only data; nothing follows it until the container runs.
        await symlink(header.linkname, path);
        break;
      case "link": {
        const target = await this.hardlinkTarget(header);
        await link(target, path);
        break;
      }
      case "char":
      case "block":
      case "fifo": {
        const type = header.type === "char" ? S_IFCHR : header.type === "block" ? S_IFBLK : S_IFIFO;
        mknod(path, type | 0o600, makedev(header.devmajor, header.devminor));
        break;
      }
      default:
        throw invalidArgument(
          `layer entry ${header.name}: unsupported tar entry type ${JSON.stringify(header.typeflag)}`,
        );
    }
    await this.setMetadata(path, header);
  }

  /** The hardlink's target, resolved inside root; it must already exist there. */
  private async hardlinkTarget(header: TarHeader): Promise<string> {
    const name = posix.normalize(`/${header.linkname}`);
    const target = join(await rootPath(this.root, posix.dirname(name)), posix.basename(name));
    if (name === "/" || !isWithin(this.root, target) || target === this.root) {
      throw invalidArgument(`layer entry ${header.name}: invalid hardlink target ${header.linkname}`);
    }
    if (!(await lstatOrUndefined(target))) {
      throw invalidArgument(
        `layer entry ${header.name}: hardlink target ${header.linkname} does not exist in the layer's root`,
      );
    }
    return target;
  }

  private async setMetadata(path: string, header: TarHeader): Promise<void> {
    const st = await lstat(path);
    const isSymlink = st.isSymbolicLink();
    await lchown(path, header.uid, header.gid);
    for (const [key, value] of header.xattrs) {
      try {
        lsetxattr(path, key, value);
      } catch (err) {
        // Security labels and capabilities may be refused by the host's LSM or
        // filesystem; a layer should still unpack.
        if (key.startsWith("security.") || hasErrno(err, "ENOTSUP", "EOPNOTSUPP")) {
          this.options.onWarning?.(`ignored xattr ${key} on ${header.name}: ${(err as Error).message}`);
          continue;
        }
        throw err;
      }
    }
    // After chown, which clears setuid and setgid; symlinks have no mode of their own.
    if (!isSymlink) await chmod(path, header.mode & 0o7777);
    if (!st.isDirectory())
      lutimesNs(path, boundTime(header.atimeNs ?? header.mtimeNs), boundTime(header.mtimeNs));
  }

  private async whiteout(dir: string, name: string, header: TarHeader): Promise<void> {
    if (name === "" || name === "." || name === ".." || name.includes("/")) {
      throw invalidArgument(`layer entry ${header.name}: invalid whiteout name`);
    }
    const path = join(dir, name);
    if (this.options.whiteouts === "remove") {
      await rm(path, { recursive: true, force: true });
      return;
    }
    // overlayfs marks a deleted lower entry with a 0/0 character device of its name.
    await rm(path, { recursive: true, force: true });
    mknod(path, S_IFCHR, makedev(0, 0));
    await lchown(path, header.uid, header.gid);
  }

  private async opaque(dir: string): Promise<void> {
    if (this.options.whiteouts === "overlay") {
      lsetxattr(dir, "trusted.overlay.opaque", Buffer.from("y"));
      return;
    }
    await this.removeExceptUnpacked(dir);
  }

  /** Deletes what the lower layers left in `dir`, keeping what this layer put there. */
  private async removeExceptUnpacked(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      if (this.unpacked.has(path) || this.aboveUnpacked.has(path)) {
        // A directory this layer wrote (or wrote into) hides the lower one's contents too.
        if ((await lstat(path)).isDirectory()) await this.removeExceptUnpacked(path);
        continue;
      }
      await rm(path, { recursive: true, force: true });
    }
  }

  private markUnpacked(path: string): void {
    this.unpacked.add(path);
    for (let dir = dirname(path); dir !== this.root && isWithin(this.root, dir); dir = dirname(dir)) {
      if (this.aboveUnpacked.has(dir)) break;
      this.aboveUnpacked.add(dir);
    }
  }

  /** Creates the missing directories down to `dir` (which resolved inside root). */
  private async makeParents(dir: string): Promise<void> {
    const st = await lstatOrUndefined(dir);
    if (st) {
      if (st.isDirectory()) return;
      throw new Error(
        `cannot create ${relative(this.root, dir)} in ${this.root}: a parent is not a directory`,
      );
    }
    const up = dirname(dir);
    if (up !== this.root) await this.makeParents(up);
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (err) {
      if (!hasErrno(err, "EEXIST")) throw err;
    }
    await this.copyFromParents(dir);
  }

  /** Gives an implied directory the attributes it has in the nearest lower layer. */
  private async copyFromParents(dir: string): Promise<void> {
    const rel = relative(this.root, dir);
    for (const lower of this.options.parents ?? []) {
      const source = await rootPath(lower, rel);
      const st = await lstatOrUndefined(source, true);
      if (!st) continue;
      if (!st.isDirectory()) return;
      await lchown(dir, Number(st.uid), Number(st.gid));
      await chmod(dir, Number(st.mode) & 0o7777);
      for (const key of llistxattr(source)) {
        // overlay's own attributes (opaque, redirect) describe the lower, not this copy.
        if (key.startsWith("trusted.overlay.")) continue;
        const value = lgetxattr(source, key);
        if (value !== undefined) lsetxattr(dir, key, value);
      }
      lutimesNs(dir, st.atimeNs, st.mtimeNs);
      return;
    }
  }
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined>;
async function lstatOrUndefined(path: string, bigint: true): Promise<BigIntStats | undefined>;
async function lstatOrUndefined(path: string, bigint?: boolean) {
  try {
    return bigint ? await lstat(path, { bigint: true }) : await lstat(path);
  } catch (err) {
    if (hasErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw err;
  }
}

/** Times before the epoch are written as the epoch, as containerd does. */
function boundTime(ns: bigint): bigint {
  return ns < 0n ? 0n : ns;
}
