import { check, hasErrno, libc } from "./libc.js";

// Extended attributes on the link itself (the l-variants), so a symlink is never followed.

export function lsetxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  check("lsetxattr", `${path} ${name}`, path, () =>
    libc().lsetxattr(path, name, value, value.byteLength, flags),
  );
}

/** The attribute's value, or undefined when the file does not have it. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  // The size can change between the probe and the read; ERANGE means try again.
  for (;;) {
    try {
      const size = check("lgetxattr", `${path} ${name}`, path, () => libc().lgetxattr(path, name, null, 0));
      const buf = Buffer.alloc(size);
      if (size === 0) return buf;
      const n = check("lgetxattr", `${path} ${name}`, path, () => libc().lgetxattr(path, name, buf, size));
      return buf.subarray(0, n);
    } catch (err) {
      if (hasErrno(err, "ENODATA")) return undefined;
      if (hasErrno(err, "ERANGE")) continue;
      throw err;
    }
  }
}

/** Attribute names of the file (an empty list where the filesystem has none). */
export function llistxattr(path: string): string[] {
  for (;;) {
    try {
      const size = check("llistxattr", path, path, () => libc().llistxattr(path, null, 0));
      if (size === 0) return [];
      const buf = Buffer.alloc(size);
      const n = check("llistxattr", path, path, () => libc().llistxattr(path, buf, size));
      return buf
        .subarray(0, n)
        .toString("utf8")
        .split("\0")
        .filter((name) => name !== "");
    } catch (err) {
      if (hasErrno(err, "ERANGE")) continue;
      if (hasErrno(err, "ENOTSUP", "EOPNOTSUPP")) return [];
      throw err;
    }
  }
}

export function lremovexattr(path: string, name: string): void {
  check("lremovexattr", `${path} ${name}`, path, () => libc().lremovexattr(path, name));
}
