// The few libc calls Node lacks (mkfifo, umount2, mount, setns, socket), bound lazily
// with koffi. Each failure is a SyscallError naming the call, its path and the errno.
import { closeSync, openSync } from "node:fs";
import { getSystemErrorName } from "node:util";
import type koffiModule from "koffi";

type KoffiFunction = ReturnType<koffiModule.IKoffiLib["func"]>;

export class SyscallError extends Error {
  override name = "SyscallError";
  readonly code: string;
  constructor(syscall: string, path: string, errno: number) {
    let code: string;
    try {
      code = getSystemErrorName(-errno);
    } catch {
      code = `errno ${errno}`;
    }
    super(`${syscall} ${path}: ${code}`);
    this.code = code;
  }
}

interface Libc {
  koffi: typeof koffiModule;
  mkfifo: KoffiFunction;
  umount2: KoffiFunction;
  mount: KoffiFunction;
  setns: KoffiFunction;
  socket: KoffiFunction;
}

let loaded: Promise<Libc> | undefined;

function libc(): Promise<Libc> {
  loaded ??= (async () => {
    const koffi = (await import("koffi")).default;
    const lib = koffi.load("libc.so.6");
    return {
      koffi,
      mkfifo: lib.func("int mkfifo(const char *path, uint32_t mode)"),
      umount2: lib.func("int umount2(const char *target, int flags)"),
      mount: lib.func(
        "int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)",
      ),
      setns: lib.func("int setns(int fd, int nstype)"),
      socket: lib.func("int socket(int domain, int type, int protocol)"),
    };
  })();
  return loaded;
}

export async function mkfifo(path: string, mode = 0o600): Promise<void> {
  const c = await libc();
  if (Number(c.mkfifo(path, mode)) < 0) {
    const errno = c.koffi.errno();
    if (getSystemErrorNameSafe(errno) !== "EEXIST") throw new SyscallError("mkfifo", path, errno);
  }
}

const MNT_DETACH = 2;
const UMOUNT_NOFOLLOW = 8;

/** Lazily unmounts `path`; nothing mounted there is not an error. */
export async function unmount(path: string): Promise<void> {
  const c = await libc();
  if (Number(c.umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW)) < 0) {
    const errno = c.koffi.errno();
    const name = getSystemErrorNameSafe(errno);
    if (name !== "EINVAL" && name !== "ENOENT") throw new SyscallError("umount2", path, errno);
  }
}

export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;

/** mount(2): `fstype` from `source` on `target` with `flags` and its options in `data`. */
export async function mount(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string,
): Promise<void> {
  const c = await libc();
  if (Number(c.mount(source, target, fstype, flags, data)) < 0) {
    throw new SyscallError(`mount -t ${fstype} -o ${data}`, target, c.koffi.errno());
  }
}

const CLONE_NEWNET = 0x40000000;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

/**
 * A TCP socket (non-blocking, close-on-exec, not yet connected) in the network namespace
 * pinned at `netnsPath`. A socket belongs to the namespace it was made in, wherever it is
 * used afterwards, so the calling thread enters the namespace for socket(2) alone and
 * goes back at once; nothing else runs on it meanwhile (these are synchronous calls).
 */
export async function tcpSocketInNetns(netnsPath: string, family: 4 | 6): Promise<number> {
  const c = await libc();
  const target = openSync(netnsPath, "r");
  let home: number | undefined;
  try {
    home = openSync("/proc/thread-self/ns/net", "r");
    if (Number(c.setns(target, CLONE_NEWNET)) < 0)
      throw new SyscallError("setns", netnsPath, c.koffi.errno());
    const fd = Number(
      c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
    );
    const errno = c.koffi.errno();
    if (Number(c.setns(home, CLONE_NEWNET)) < 0) {
      // Staying here would put every later socket and child process in the pod's network.
      process.stderr.write(
        `berth-cri: cannot return to its own network namespace from ${netnsPath}: exiting\n`,
      );
      process.exit(70);
    }
    if (fd < 0) throw new SyscallError("socket", netnsPath, errno);
    return fd;
  } finally {
    closeSync(target);
    if (home !== undefined) closeSync(home);
  }
}

function getSystemErrorNameSafe(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return "";
  }
}
