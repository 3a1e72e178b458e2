// What the spec builders read from the node: device nodes, mount propagation, the caller's
// own capabilities and oom_score_adj, cgroup controllers, seccomp profiles. Everything else
// in spec generation is pure; tests replace this interface with a fake node.

import {
  type Stats,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  statSync,
  statfsSync,
} from "node:fs";
import { hostname, release } from "node:os";
import { basename, join } from "node:path";
import { errorMessage, invalidArgument } from "../errdefs.js";
import { capabilitiesFromMask } from "./capabilities.js";
import type { LinuxDevice } from "./spec.js";

/** The mount a path lives on, from /proc/self/mountinfo. */
export interface MountInfo {
  mountpoint: string;
  /** The optional fields: "shared:N", "master:N", … */
  optional: string[];
}

export interface SpecHost {
  /** Device nodes at a host path (a node, or every node under a directory), named for the container. */
  devices(hostPath: string, containerPath: string): LinuxDevice[];
  /** Every device node under the host's /dev, for privileged containers. */
  hostDevices(): LinuxDevice[];
  /** The real path of a bind mount's source, creating it as a directory when missing. */
  prepareMountSource(hostPath: string): string;
  /** The mount `path` lives on. */
  lookupMount(path: string): MountInfo;
  /** The effective capabilities of this process: what a privileged container can get. */
  currentCapabilities(): string[];
  /** This process's oom_score_adj: without CAP_SYS_RESOURCE no child may go below it. */
  currentOomScoreAdj(): number;
  cgroupV2(): boolean;
  /** Whether the memory controller limits swap (memory.memsw.* on v1, memory.swap.max on v2). */
  swapControllerAvailable(): boolean;
  hugetlbControllerAvailable(): boolean;
  readFile(path: string): string;
  /** The node's hostname: containers of a pod that names none see it. */
  hostname(): string;
  /** The running kernel's release, as uname -r prints it. */
  kernelRelease(): string;
  /** Node's name for the CPU architecture (process.arch). */
  arch(): string;
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Device number split as glibc's major()/minor() do. */
function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/** A device node at `path`, or undefined when it is not a char or block device. */
export function deviceFromPath(path: string): LinuxDevice | undefined {
  const st = lstatSync(path, { bigint: true });
  let type: string;
  if (st.isCharacterDevice()) type = "c";
  else if (st.isBlockDevice()) type = "b";
  else return undefined;
  const { major, minor } = splitDev(st.rdev);
  return {
    path,
    type,
    major,
    minor,
    fileMode: Number(st.mode) & 0o777,
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

// Directories of /dev that hold no devices a container should get (or that runc mounts itself).
const skippedDevDirs = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);

function devicesUnder(path: string, containerPath: string): LinuxDevice[] {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    throw invalidArgument(`device ${path} cannot be used: ${errorMessage(err)}`);
  }
  if (!st.isDirectory()) {
    const dev = deviceFromPath(path);
    if (dev === undefined) {
      throw invalidArgument(
        `device ${path} is not a character or block device: give the path of a device node`,
      );
    }
    if (containerPath !== "") dev.path = containerPath;
    return [dev];
  }
  const out: LinuxDevice[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    const childTarget = containerPath === "" ? "" : join(containerPath, basename(entry.name));
    if (entry.isDirectory()) {
      if (skippedDevDirs.has(entry.name)) continue;
      out.push(...devicesUnder(child, childTarget));
      continue;
    }
    if (entry.name === "console") continue;
    let dev: LinuxDevice | undefined;
    try {
      dev = deviceFromPath(child);
    } catch {
      continue; // gone since readdir
    }
    if (dev === undefined) continue;
    if (childTarget !== "") dev.path = childTarget;
    out.push(dev);
  }
  return out;
}

function parseMountInfo(text: string): Array<{ mountpoint: string; optional: string[] }> {
  const out: Array<{ mountpoint: string; optional: string[] }> = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    const mountpoint = fields[4];
    if (mountpoint === undefined || sep < 6) continue;
    out.push({ mountpoint: unescapeOctal(mountpoint), optional: fields.slice(6, sep) });
  }
  return out;
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

function procCgroupV2Path(): string | undefined {
  const text = readFileSync("/proc/self/cgroup", "utf8");
  for (const line of text.split("\n")) if (line.startsWith("0::")) return line.slice(3);
  return undefined;
}

function isCgroupV2(): boolean {
  try {
    return statfsSync("/sys/fs/cgroup").type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** The node this process runs on, read through node:fs. */
export const nodeHost: SpecHost = {
  devices(hostPath, containerPath) {
    let resolved: string;
    try {
      resolved = realpathSync(hostPath);
    } catch (err) {
      throw invalidArgument(`device ${hostPath} cannot be used: ${errorMessage(err)}`);
    }
    return devicesUnder(resolved, containerPath === "" ? hostPath : containerPath);
  },
  hostDevices() {
    return devicesUnder("/dev", "");
  },
  prepareMountSource(hostPath) {
    if (!existsSync(hostPath)) mkdirSync(hostPath, { recursive: true, mode: 0o755 });
    return realpathSync(hostPath);
  },
  lookupMount(path) {
    const mounts = parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
    let best: MountInfo | undefined;
    for (const m of mounts) {
      const under = m.mountpoint === "/" || path === m.mountpoint || path.startsWith(`${m.mountpoint}/`);
      // Later lines are mounted over earlier ones at the same point.
      if (under && (best === undefined || m.mountpoint.length >= best.mountpoint.length)) best = m;
    }
    if (best === undefined) throw invalidArgument(`no mount found for ${path}`);
    return best;
  },
  currentCapabilities() {
    const status = readFileSync("/proc/self/status", "utf8");
    const line = status.split("\n").find((l) => l.startsWith("CapEff:"));
    return line === undefined ? [] : capabilitiesFromMask(line.slice("CapEff:".length));
  },
  currentOomScoreAdj() {
    return Number.parseInt(readFileSync("/proc/self/oom_score_adj", "utf8").trim(), 10);
  },
  cgroupV2: isCgroupV2,
  swapControllerAvailable() {
    try {
      if (!isCgroupV2()) return existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
      const own = procCgroupV2Path();
      return own !== undefined && existsSync(join("/sys/fs/cgroup", own, "memory.swap.max"));
    } catch {
      return false;
    }
  },
  hugetlbControllerAvailable() {
    try {
      if (!isCgroupV2()) return existsSync("/sys/fs/cgroup/hugetlb");
      return readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8").split(/\s+/).includes("hugetlb");
    } catch {
      return false;
    }
  },
  readFile(path) {
    return readFileSync(path, "utf8");
  },
  hostname() {
    return hostname();
  },
  kernelRelease() {
    return release();
  },
  arch() {
    return process.arch;
  },
};
