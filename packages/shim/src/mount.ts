import { MNT_DETACH, mount, unmount } from "./sys.js";

// Rootfs mounts from the Create request (overlay or bind, as snapshotters return them),
// with mount(8)-style options split into flags and filesystem data.

export interface RootfsMount {
  type: string;
  source: string;
  options: string[];
}

const MS_RDONLY = 0x1;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_SYNCHRONOUS = 0x10;
const MS_REMOUNT = 0x20;
const MS_DIRSYNC = 0x80;
const MS_NOATIME = 0x400;
const MS_NODIRATIME = 0x800;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 0x40000;
const MS_SLAVE = 0x80000;
const MS_SHARED = 0x100000;
const MS_UNBINDABLE = 0x20000;
const MS_RELATIME = 0x200000;
const MS_STRICTATIME = 0x1000000;
const MS_MANDLOCK = 0x40;
const MS_NOSYMFOLLOW = 0x100;
const MS_SILENT = 0x8000;
const MS_LAZYTIME = 0x2000000;

const PROPAGATION = MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE;

/** [clear?, flag] per option word, as mount(8) reads them ("rw" clears MS_RDONLY). */
const FLAGS: Readonly<Record<string, [boolean, number]>> = {
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

const PROPAGATION_FLAGS: Readonly<Record<string, number>> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** A mount's option list split as mount(8) does (berthd's mounts use this parser too). */
export interface ParsedOptions {
  /** Flags for the mount call itself (no propagation bits). */
  flags: number;
  /** MS_SHARED / MS_PRIVATE / MS_SLAVE / MS_UNBINDABLE, possibly with MS_REC; 0 for none. */
  propagation: number;
  /** Filesystem options, in order, e.g. ["lowerdir=/a:/b", "upperdir=/u"]. */
  data: string[];
}

export function parseMountOptions(options: readonly string[]): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAGS[o];
    const p = PROPAGATION_FLAGS[o];
    if (f !== undefined) {
      const [clear, bit] = f;
      flags = clear ? flags & ~bit : flags | bit;
    } else if (p !== undefined) {
      propagation |= p;
    } else {
      data.push(o);
    }
  }
  return { flags, propagation, data };
}

/** mount(2) takes at most a page of data; longer overlay lowerdir lists are made relative to their common parent. */
const PAGE_SIZE = 4096;

function commonParent(dirs: readonly string[]): string {
  const split = dirs.map((d) => d.split("/"));
  const first = split[0] ?? [];
  let n = 0;
  while (n < first.length - 1 && split.every((s) => s[n] === first[n])) n++;
  return first.slice(0, n).join("/") || "/";
}

/**
 * Shortens overlay data by making lowerdir/upperdir/workdir relative to a common parent,
 * returning that parent to chdir into while mounting (upstream does the same in a child).
 */
export function compactOverlayData(data: string[]): { data: string[]; chdir?: string } {
  if (data.join(",").length < PAGE_SIZE) return { data };
  const lower = data.find((d) => d.startsWith("lowerdir="));
  if (lower === undefined) return { data };
  const dirs = lower.slice("lowerdir=".length).split(":");
  const parent = commonParent(dirs);
  if (parent === "/") return { data };
  const rel = (p: string) => (p.startsWith(`${parent}/`) ? p.slice(parent.length + 1) : p);
  const out = data.map((d) => {
    const eq = d.indexOf("=");
    const key = d.slice(0, eq);
    if (key === "lowerdir") return `lowerdir=${dirs.map(rel).join(":")}`;
    if (key === "upperdir" || key === "workdir") return `${key}=${rel(d.slice(eq + 1))}`;
    return d;
  });
  return { data: out, chdir: parent };
}

export function mountOne(m: RootfsMount, target: string): void {
  const { flags, propagation, data } = parseMountOptions(m.options);
  let fstype = m.type;
  if (fstype === "bind" || fstype === "rbind") {
    fstype = "none";
  }
  const bind = (flags & MS_BIND) !== 0 || m.type === "bind" || m.type === "rbind";
  const baseFlags = bind ? flags | MS_BIND | (m.type === "rbind" ? MS_REC : 0) : flags;
  let chdir: string | undefined;
  let payload = data;
  if (fstype === "overlay") ({ data: payload, chdir } = compactOverlayData(data));
  const previous = process.cwd();
  if (chdir !== undefined) process.chdir(chdir);
  try {
    mount(m.source, target, fstype, bind ? baseFlags & ~MS_RDONLY : baseFlags, payload.join(","));
  } finally {
    if (chdir !== undefined) process.chdir(previous);
  }
  // A bind mount ignores most flags until remounted.
  if (bind && (baseFlags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) !== 0) {
    mount("none", target, "none", baseFlags | MS_REMOUNT | MS_BIND, "");
  }
  if (propagation !== 0) mount("none", target, "none", propagation, "");
}

export function mountAll(mounts: readonly RootfsMount[], target: string): void {
  for (const m of mounts) mountOne(m, target);
}

/** Unmounts everything stacked on `target`; a path that is not (or no longer) mounted is fine. */
export function unmountAll(target: string): void {
  for (let i = 0; i < 64; i++) {
    try {
      unmount(target, 0);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "EINVAL" || code === "ENOENT") return;
      if (code === "EBUSY") {
        unmount(target, MNT_DETACH);
        continue;
      }
      throw err;
    }
  }
}
