import { readdirSync } from "node:fs";
import { check, libc } from "./libc.js";

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/**
 * Marks every open descriptor close-on-exec. Native libraries (lmdb) open files without
 * it, and Node passes such descriptors to every child: a long-lived shim would then hold
 * berthd's database open. Called once the daemon's stores are open.
 */
export function closeOnExecAll(): number {
  let marked = 0;
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    try {
      const flags = check("fcntl", `fd ${fd}`, "", () => libc().fcntl(fd, F_GETFD, 0));
      if ((flags & FD_CLOEXEC) === 0) {
        check("fcntl", `fd ${fd}`, "", () => libc().fcntl(fd, F_SETFD, flags | FD_CLOEXEC));
        marked++;
      }
    } catch {
      // The descriptor that listed the directory is already closed: nothing to mark.
    }
  }
  return marked;
}
