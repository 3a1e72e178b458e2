import { getSystemErrorName } from "node:util";
import type koffiModule from "koffi";

// The one door to libc for what Node lacks: child subreaper, waiting on one pid, pipes, FIFOs,
// close-on-exec, mounts, receiving a descriptor over a unix socket, and pty sizes. koffi
// is loaded on first use; every failure is a SyscallError naming the call and errno.

type Koffi = typeof koffiModule;
type KoffiFunction = ReturnType<koffiModule.IKoffiLib["func"]>;

/** A failed syscall: `code` is the errno name ("ECHILD"), as on Node's fs errors. */
export class SyscallError extends Error {
  override name = "SyscallError";
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;

  constructor(syscall: string, subject: string, errno: number) {
    const code = errnoName(errno);
    super(`${syscall} ${subject}: ${code}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

interface Libc {
  koffi: Koffi;
  prctl: KoffiFunction;
  waitid: KoffiFunction;
  pipe2: KoffiFunction;
  fcntl: KoffiFunction;
  mount: KoffiFunction;
  umount2: KoffiFunction;
  recvmsg: KoffiFunction;
  ioctl: KoffiFunction;
  socket: KoffiFunction;
  bind: KoffiFunction;
  listen: KoffiFunction;
  close: KoffiFunction;
  mkfifo: KoffiFunction;
  msghdr: koffiModule.IKoffiCType;
}

let loaded: Libc | undefined;

async function loadKoffi(): Promise<Koffi> {
  return (await import("koffi")).default;
}

let koffiPromise: Promise<Koffi> | undefined;

/** Loads koffi and binds libc; call once at start-up before any other function here. */
export async function initLibc(): Promise<void> {
  if (loaded !== undefined) return;
  koffiPromise ??= loadKoffi();
  const koffi = await koffiPromise;
  if (loaded !== undefined) return;
  const lib = koffi.load("libc.so.6");
  const msghdr = koffi.struct("berth_msghdr", {
    name: "void *",
    namelen: "uint32",
    iov: "void *",
    iovlen: "size_t",
    control: "void *",
    controllen: "size_t",
    flags: "int",
  });
  loaded = {
    koffi,
    prctl: lib.func(
      "int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)",
    ),
    waitid: lib.func("int waitid(int idtype, int id, void *infop, int options)"),
    pipe2: lib.func("int pipe2(void *fds, int flags)"),
    fcntl: lib.func("int fcntl(int fd, int cmd, ...)"),
    mount: lib.func(
      "int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)",
    ),
    umount2: lib.func("int umount2(const char *target, int flags)"),
    recvmsg: lib.func("long recvmsg(int fd, berth_msghdr *msg, int flags)"),
    ioctl: lib.func("int ioctl(int fd, unsigned long request, ...)"),
    socket: lib.func("int socket(int domain, int type, int protocol)"),
    bind: lib.func("int bind(int fd, const void *addr, uint32_t len)"),
    listen: lib.func("int listen(int fd, int backlog)"),
    close: lib.func("int close(int fd)"),
    mkfifo: lib.func("int mkfifo(const char *path, uint32_t mode)"),
    msghdr,
  };
}

function libc(): Libc {
  if (loaded === undefined) throw new Error("libc bindings used before initLibc()");
  return loaded;
}

function check(syscall: string, subject: string, call: () => unknown): number {
  const result = Number(call());
  if (result < 0) throw new SyscallError(syscall, subject, libc().koffi.errno());
  return result;
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

/**
 * A listening unix socket made with plain syscalls, outside libuv: the process that makes
 * it never accepts on it (a libuv server would, and drop what it accepted on exit), and
 * exiting closes it without unlinking the path. EADDRINUSE is thrown with that code.
 */
export function listenUnixRaw(path: string, backlog = 128): number {
  const name = Buffer.from(path);
  if (name.length > 107) throw new Error(`socket path ${path} is longer than 107 bytes`);
  const addr = Buffer.alloc(2 + name.length + 1);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  const fd = check("socket", path, () => libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  try {
    check("bind", path, () => libc().bind(fd, addr, addr.length));
    check("listen", path, () => libc().listen(fd, backlog));
  } catch (err) {
    libc().close(fd);
    throw err;
  }
  return fd;
}

const PR_SET_CHILD_SUBREAPER = 36;

/** Orphaned descendants (container inits after runc exits) are re-parented to this process. */
export function setChildSubreaper(): void {
  check("prctl", "PR_SET_CHILD_SUBREAPER", () => libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
}

const P_PID = 1;
const WEXITED = 4;
const WNOHANG = 1;
const CLD_EXITED = 1;

/** How a child ended, the way a shell reports it: the exit code, or 128 + the signal. */
export interface ChildExit {
  pid: number;
  status: number;
}

/**
 * waitid(P_PID, pid, WEXITED|WNOHANG): reaps `pid` if it has exited. Returns undefined
 * while it runs, and also when it is not our child (ECHILD), which the caller tells apart
 * by checking whether the process still exists.
 */
export function reapPid(pid: number): ChildExit | undefined {
  const info = Buffer.alloc(128);
  const r = Number(libc().waitid(P_PID, pid, info, WEXITED | WNOHANG));
  if (r < 0) {
    const errno = libc().koffi.errno();
    const err = new SyscallError("waitid", `pid ${pid}`, errno);
    if (err.code === "ECHILD" || err.code === "EINTR") return undefined;
    throw err;
  }
  const got = info.readInt32LE(16);
  if (got === 0) return undefined;
  const code = info.readInt32LE(8);
  const value = info.readInt32LE(24);
  return { pid: got, status: code === CLD_EXITED ? value : 128 + value };
}

const O_CLOEXEC = 0o2000000;

/** pipe2(O_CLOEXEC): [read end, write end]. Close-on-exec so no other child inherits them. */
export function pipe(): [number, number] {
  const fds = Buffer.alloc(8);
  check("pipe2", "", () => libc().pipe2(fds, O_CLOEXEC));
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

/** mkfifo(3): a named pipe at `path`. */
export function mkfifo(path: string, mode = 0o600): void {
  check("mkfifo", path, () => libc().mkfifo(path, mode));
}

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

export function setCloseOnExec(fd: number): void {
  const flags = check("fcntl", `F_GETFD ${fd}`, () => libc().fcntl(fd, F_GETFD));
  check("fcntl", `F_SETFD ${fd}`, () => libc().fcntl(fd, F_SETFD, "int", flags | FD_CLOEXEC));
}

const F_DUPFD_CLOEXEC = 1030;

/** A second descriptor for the same open file (fcntl F_DUPFD_CLOEXEC). */
export function dupFd(fd: number): number {
  return check("fcntl", `F_DUPFD_CLOEXEC ${fd}`, () => libc().fcntl(fd, F_DUPFD_CLOEXEC, "int", 0));
}

export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  const subject = `${source} on ${target} (${fstype})`;
  check("mount", subject, () => libc().mount(source, target, fstype, flags, data === "" ? null : data));
}

export const MNT_DETACH = 2;

export function unmount(target: string, flags = 0): void {
  check("umount2", target, () => libc().umount2(target, flags));
}

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;

/**
 * recvmsg(2) on a connected unix socket: the bytes and any descriptors passed with
 * SCM_RIGHTS. Throws EAGAIN on a non-blocking socket with nothing to read.
 */
export function receiveFds(fd: number): { data: Buffer; fds: number[] } {
  const { koffi, recvmsg } = libc();
  const DATA = 4096;
  const CONTROL = 256;
  const data = koffi.alloc("uint8", DATA);
  const control = koffi.alloc("uint8", CONTROL);
  const iov = koffi.alloc("uint64", 2);
  try {
    koffi.encode(iov, "uint64", koffi.address(data));
    koffi.encode(iov, 8, "uint64", BigInt(DATA));
    const msg = { name: null, namelen: 0, iov, iovlen: 1, control, controllen: CONTROL, flags: 0 };
    const n = check("recvmsg", `fd ${fd}`, () => recvmsg(fd, msg, MSG_CMSG_CLOEXEC));
    const bytes = Buffer.from(new Uint8Array(koffi.view(data, n)));
    const ctl = Buffer.from(new Uint8Array(koffi.view(control, CONTROL)));
    return { data: bytes, fds: parseRights(ctl) };
  } finally {
    koffi.free(data);
    koffi.free(control);
    koffi.free(iov);
  }
}

/** Descriptors in a control buffer of cmsghdr records (64-bit layout: len u64, level i32, type i32). */
export function parseRights(control: Buffer): number[] {
  const fds: number[] = [];
  let offset = 0;
  while (offset + 16 <= control.length) {
    const len = Number(control.readBigUInt64LE(offset));
    if (len < 16) break;
    const level = control.readInt32LE(offset + 8);
    const type = control.readInt32LE(offset + 12);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = offset + 16; p + 4 <= offset + len && p + 4 <= control.length; p += 4) {
        fds.push(control.readInt32LE(p));
      }
    }
    offset += (len + 7) & ~7;
  }
  return fds;
}

const TIOCSWINSZ = 0x5414;

export function setWindowSize(fd: number, columns: number, rows: number): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(rows, 0);
  ws.writeUInt16LE(columns, 2);
  check("ioctl", `TIOCSWINSZ fd ${fd}`, () => libc().ioctl(fd, TIOCSWINSZ, "void *", ws));
}
