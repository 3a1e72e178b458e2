import { getSystemErrorName } from "node:util";
import koffi from "koffi";

// The one door to libc for the syscalls Node does not offer. Every binding is declared
// here, loaded on first use, and every failure becomes a SyscallError that names the
// call, its subject and the errno, the way Node's own fs errors do.

/** A failed syscall: `code` is the errno name ("EBUSY"), as on Node's fs errors. */
export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  readonly path: string;

  constructor(syscall: string, subject: string, errno: number, path: string) {
    const code = errnoName(errno);
    super(`${syscall} ${subject}: ${code}: ${strerror(errno)}`);
    this.name = "SyscallError";
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
    this.path = path;
  }
}

/** True when `err` is a syscall or fs error with one of the given errno names. */
export function hasErrno(err: unknown, ...codes: string[]): boolean {
  return (
    typeof err === "object" &&
    err !== null &&
    "code" in err &&
    typeof err.code === "string" &&
    codes.includes(err.code)
  );
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

type KoffiFunction = ReturnType<koffi.IKoffiLib["func"]>;

interface Libc {
  mount: KoffiFunction;
  umount2: KoffiFunction;
  mknod: KoffiFunction;
  lsetxattr: KoffiFunction;
  lgetxattr: KoffiFunction;
  llistxattr: KoffiFunction;
  lremovexattr: KoffiFunction;
  utimensat: KoffiFunction;
  strerror: KoffiFunction;
  fcntl: KoffiFunction;
}

let loaded: Libc | undefined;

/** Binds libc lazily, so importing this module never fails on a host without it. */
export function libc(): Libc {
  if (loaded) return loaded;
  const lib = koffi.load("libc.so.6");
  loaded = {
    mount: lib.func(
      "int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)",
    ),
    umount2: lib.func("int umount2(const char *target, int flags)"),
    mknod: lib.func("int mknod(const char *path, uint32_t mode, uint64_t dev)"),
    lsetxattr: lib.func(
      "int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)",
    ),
    lgetxattr: lib.func("long lgetxattr(const char *path, const char *name, void *value, size_t size)"),
    llistxattr: lib.func("long llistxattr(const char *path, void *list, size_t size)"),
    lremovexattr: lib.func("int lremovexattr(const char *path, const char *name)"),
    utimensat: lib.func("int utimensat(int dirfd, const char *path, const void *times, int flags)"),
    strerror: lib.func("const char *strerror(int errnum)"),
    fcntl: lib.func("int fcntl(int fd, int cmd, int arg)"),
  };
  return loaded;
}

function strerror(errno: number): string {
  const text: unknown = libc().strerror(errno);
  return typeof text === "string" ? text : `errno ${errno}`;
}

/**
 * Runs a libc call that returns -1 on failure and reads errno at once, before any other
 * JavaScript can touch it. Returns the call's (non-negative) result.
 */
export function check(syscall: string, subject: string, path: string, call: () => unknown): number {
  const result = Number(call());
  if (result < 0) throw new SyscallError(syscall, subject, koffi.errno(), path);
  return result;
}
