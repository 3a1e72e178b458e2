// The few libc calls Node lacks (mkfifo, umount2, mount), bound lazily with koffi. Each failure
// is a SyscallError naming the call, its path and the errno.
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

function getSystemErrorNameSafe(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return "";
  }
}
