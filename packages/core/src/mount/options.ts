import { notImplemented } from "@berth/client/errdefs";
import {
  MS_BIND,
  MS_DIRSYNC,
  MS_LAZYTIME,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_NOSYMFOLLOW,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_SHARED,
  MS_SILENT,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
} from "../sys/mount.js";

// Splits a Mount's option list the way mount(8) does: words it knows become mount(2)
// flags, propagation changes need a call of their own, and everything else is handed to
// the filesystem as its data string.

export interface MountOptions {
  /** Flags for the mount call itself (no propagation bits). */
  flags: number;
  /** MS_SHARED / MS_PRIVATE / MS_SLAVE / MS_UNBINDABLE, possibly with MS_REC; 0 for none. */
  propagation: number;
  /** Filesystem options, in order, e.g. ["lowerdir=/a:/b", "upperdir=/u"]. */
  data: string[];
}

// [clear, bits]: clear means the word turns the bits off ("rw" clears MS_RDONLY).
const flagWords: Record<string, [boolean, number]> = {
  async: [true, MS_SYNCHRONOUS],
  atime: [true, MS_NOATIME],
  bind: [false, MS_BIND],
  defaults: [false, 0],
  dev: [true, MS_NODEV],
  diratime: [true, MS_NODIRATIME],
  dirsync: [false, MS_DIRSYNC],
  exec: [true, MS_NOEXEC],
  lazytime: [false, MS_LAZYTIME],
  nolazytime: [true, MS_LAZYTIME],
  mand: [false, MS_MANDLOCK],
  noatime: [false, MS_NOATIME],
  nodev: [false, MS_NODEV],
  nodiratime: [false, MS_NODIRATIME],
  noexec: [false, MS_NOEXEC],
  nomand: [true, MS_MANDLOCK],
  norelatime: [true, MS_RELATIME],
  nostrictatime: [true, MS_STRICTATIME],
  nosuid: [false, MS_NOSUID],
  nosymfollow: [false, MS_NOSYMFOLLOW],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, MS_RELATIME],
  remount: [false, MS_REMOUNT],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  silent: [false, MS_SILENT],
  loud: [true, MS_SILENT],
  strictatime: [false, MS_STRICTATIME],
  suid: [true, MS_NOSUID],
  symfollow: [true, MS_NOSYMFOLLOW],
  sync: [false, MS_SYNCHRONOUS],
};

const propagationWords: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

export function parseMountOptions(options: readonly string[]): MountOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const option of options) {
    const word = flagWords[option];
    if (word) {
      const [clear, bits] = word;
      flags = clear ? flags & ~bits : flags | bits;
      continue;
    }
    const prop = propagationWords[option];
    if (prop !== undefined) {
      propagation |= prop;
      continue;
    }
    if (option === "loop") throw notImplemented("loop mounts are not supported");
    data.push(option);
  }
  return { flags, propagation, data };
}
