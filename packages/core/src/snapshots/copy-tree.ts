import { constants, type BigIntStats } from "node:fs";
import { chmod, copyFile, lchown, link, lstat, mkdir, readdir, readlink, symlink } from "node:fs/promises";
import { join } from "node:path";
import { S_IFMT, mknod } from "../sys/device.js";
import { hasErrno } from "../sys/libc.js";
import { lutimesNs } from "../sys/time.js";
import { lgetxattr, llistxattr, lsetxattr } from "../sys/xattr.js";

/**
 * Copies the tree under `src` into the existing directory `dst`, keeping what a root
 * filesystem needs: modes (setuid and sticky bits too), owners, nanosecond times,
 * symlinks, hardlinks (within the tree), device nodes and fifos, and xattrs where the
 * target filesystem accepts them. Sockets are skipped: they mean nothing once copied.
 */
export async function copyTree(src: string, dst: string): Promise<void> {
  const links = new Map<string, string>();
  await copyEntries(src, dst, links);
  await copyMetadata(src, dst, await lstat(src, { bigint: true }));
}

async function copyEntries(src: string, dst: string, links: Map<string, string>): Promise<void> {
  for (const name of await readdir(src)) {
    const from = join(src, name);
    const to = join(dst, name);
    const st = await lstat(from, { bigint: true });
    if (st.isDirectory()) {
      await mkdir(to, { mode: 0o700 });
      await copyEntries(from, to, links);
      await copyMetadata(from, to, st);
      continue;
    }
    if (st.isSocket()) continue;
    const inode = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1n ? links.get(inode) : undefined;
    if (first !== undefined) {
      await link(first, to);
      continue;
    }
    if (st.isFile()) {
      await copyFile(from, to, constants.COPYFILE_FICLONE);
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else {
      // Character and block devices, fifos.
      mknod(to, Number(st.mode & BigInt(S_IFMT)) | 0o600, st.rdev);
    }
    if (st.nlink > 1n) links.set(inode, to);
    await copyMetadata(from, to, st);
  }
}

async function copyMetadata(from: string, to: string, st: BigIntStats): Promise<void> {
  await lchown(to, Number(st.uid), Number(st.gid));
  // After chown, which clears setuid and setgid; symlinks have no mode of their own.
  if (!st.isSymbolicLink()) await chmod(to, Number(st.mode & 0o7777n));
  copyXattrs(from, to);
  lutimesNs(to, st.atimeNs, st.mtimeNs);
}

function copyXattrs(from: string, to: string): void {
  for (const name of llistxattr(from)) {
    const value = lgetxattr(from, name);
    if (value === undefined) continue;
    try {
      lsetxattr(to, name, value);
    } catch (err) {
      // Namespaces the target refuses (security.* under some LSMs, trusted.* without
      // CAP_SYS_ADMIN, user.* on symlinks) are not worth failing a copy for.
      if (!hasErrno(err, "ENOTSUP", "EOPNOTSUPP", "EPERM")) throw err;
    }
  }
}
