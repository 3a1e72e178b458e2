import { endianness } from "node:os";
import { check, libc } from "./libc.js";

// Node's fs.lutimes takes seconds as a double and so loses nanoseconds; copies of
// snapshot trees must keep them, or every file would look modified to a diff.

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

/** Sets access and modification times (nanoseconds since the epoch) without following symlinks. */
export function lutimesNs(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  // struct timespec[2] on LP64 Linux: two pairs of 64-bit (tv_sec, tv_nsec).
  const times = Buffer.alloc(32);
  const write = endianness() === "LE" ? times.writeBigInt64LE.bind(times) : times.writeBigInt64BE.bind(times);
  const split = (ns: bigint): [bigint, bigint] => {
    let sec = ns / 1_000_000_000n;
    let nsec = ns % 1_000_000_000n;
    if (nsec < 0n) {
      sec -= 1n;
      nsec += 1_000_000_000n;
    }
    return [sec, nsec];
  };
  const [as, an] = split(atimeNs);
  const [ms, mn] = split(mtimeNs);
  write(as, 0);
  write(an, 8);
  write(ms, 16);
  write(mn, 24);
  check("utimensat", path, path, () => libc().utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW));
}
