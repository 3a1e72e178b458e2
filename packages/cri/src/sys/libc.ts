// The few libc calls Node lacks (mkfifo, umount2, mount, setns, socket, ioctl), bound lazily
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
  unshare: KoffiFunction;
  ioctl: KoffiFunction;
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
      unshare: lib.func("int unshare(int flags)"),
      ioctl: lib.func("int ioctl(int fd, unsigned long request, ...)"),
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
const SOCK_DGRAM = 2;
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
    returnHome(c, home, netnsPath);
    if (fd < 0) throw new SyscallError("socket", netnsPath, errno);
    return fd;
  } finally {
    closeSync(target);
    if (home !== undefined) closeSync(home);
  }
}

const MS_BIND = 0x1000;

/** struct ifreq (linux/if.h) on 64-bit Linux: the name, then a 24-byte union. */
export const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;

/** An ifreq naming interface `name`, its flags (ifr_flags, a short at the union's start) zero. */
export function ifreq(name: string): Buffer {
  const buf = Buffer.alloc(IFREQ_SIZE);
  if (Buffer.byteLength(name) >= IFNAMSIZ) throw new RangeError(`interface name ${name} is too long`);
  buf.write(name, 0, "latin1");
  return buf;
}

export function ifreqFlags(req: Buffer): number {
  return req.readUInt16LE(IFNAMSIZ);
}

export function setIfreqFlags(req: Buffer, flags: number): void {
  req.writeUInt16LE(flags & 0xffff, IFNAMSIZ);
}

/**
 * Sets IFF_UP on `lo` in the calling thread's network namespace, as `ip link set lo up`
 * does; the kernel then gives it 127.0.0.1/8 and ::1. Returns the failed call and its errno.
 */
function loopbackUp(c: Libc): { call: string; errno: number } | undefined {
  const fd = Number(c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd < 0) return { call: "socket(AF_INET, SOCK_DGRAM)", errno: c.koffi.errno() };
  try {
    const req = ifreq("lo");
    if (Number(c.ioctl(fd, SIOCGIFFLAGS, "void *", req)) < 0)
      return { call: "ioctl(SIOCGIFFLAGS) lo", errno: c.koffi.errno() };
    setIfreqFlags(req, ifreqFlags(req) | IFF_UP);
    if (Number(c.ioctl(fd, SIOCSIFFLAGS, "void *", req)) < 0)
      return { call: "ioctl(SIOCSIFFLAGS, IFF_UP) lo", errno: c.koffi.errno() };
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * A new network namespace with its loopback up, pinned by a bind mount on `path` (an
 * existing empty file): the calling thread unshares its namespace, binds it, brings `lo`
 * up, and goes back to its own, all in synchronous calls, as `unshare --net=<path>` and
 * `ip link set lo up` would in processes of their own. CRI runtimes bring `lo` up
 * themselves: CNI conflists seldom have a loopback plugin.
 */
export async function createPinnedNetns(path: string): Promise<void> {
  const c = await libc();
  const home = openSync("/proc/thread-self/ns/net", "r");
  try {
    if (Number(c.unshare(CLONE_NEWNET)) < 0)
      throw new SyscallError("unshare(CLONE_NEWNET)", path, c.koffi.errno());
    const bound = Number(c.mount("/proc/thread-self/ns/net", path, "none", MS_BIND, null));
    let failed: { call: string; errno: number } | undefined =
      bound < 0 ? { call: "mount --bind /proc/thread-self/ns/net", errno: c.koffi.errno() } : undefined;
    failed ??= loopbackUp(c);
    returnHome(c, home, path);
    if (failed !== undefined) throw new SyscallError(failed.call, path, failed.errno);
  } finally {
    closeSync(home);
  }
}

/** Back to berth-cri's own network namespace: staying out would put every later socket and child process elsewhere. */
function returnHome(c: Libc, home: number, from: string): void {
  if (Number(c.setns(home, CLONE_NEWNET)) < 0) {
    process.stderr.write(`berth-cri: cannot return to its own network namespace from ${from}: exiting\n`);
    process.exit(70);
  }
}

function getSystemErrorNameSafe(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return "";
  }
}
