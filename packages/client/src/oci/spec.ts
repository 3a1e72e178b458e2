// The part of the OCI runtime spec (1.0.2, as runc 1.1 reads it) that Berth writes, and
// the default spec every container starts from before the CRI options are applied.
// Optional fields stay undefined rather than empty so that JSON.stringify leaves them out,
// the way Go's omitempty does for containerd.

/** The runtime-spec version runc 1.1 reports and containerd 1.6 writes. */
export const OCI_VERSION = "1.0.2-dev";

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  permitted?: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface PosixRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Process {
  terminal?: boolean;
  user: User;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: PosixRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  apparmorProfile?: string;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** One device cgroup rule: `type` is a (all), c or b; unset major/minor mean any. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  swap?: number;
}

export interface LinuxCpu {
  shares?: number;
  quota?: number;
  period?: number;
  cpus?: string;
  mems?: string;
}

export interface LinuxPids {
  limit: number;
}

export interface LinuxHugepageLimit {
  pageSize: string;
  limit: number;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCpu;
  pids?: LinuxPids;
  hugepageLimits?: LinuxHugepageLimit[];
  /** cgroup v2 files; runc rejects them on cgroup v1. */
  unified?: Record<string, string>;
}

export type NamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup";

export interface LinuxNamespace {
  type: NamespaceType;
  path?: string;
}

/** A device node runc creates in the container's /dev. */
export interface LinuxDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface Linux {
  resources?: LinuxResources;
  cgroupsPath?: string;
  namespaces: LinuxNamespace[];
  devices?: LinuxDevice[];
  seccomp?: LinuxSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  sysctl?: Record<string, string>;
  rootfsPropagation?: string;
  mountLabel?: string;
}

export interface Spec {
  ociVersion: string;
  process: Process;
  root: Root;
  hostname?: string;
  mounts: Mount[];
  annotations?: Record<string, string>;
  linux: Linux;
}

/** The PATH a container gets when its image sets none. */
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Capabilities of a container that asks for nothing else (Docker's and containerd's set). */
export function defaultCapabilities(): string[] {
  return [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
  ];
}

/** Paths under /proc and /sys that leak host information: hidden from unprivileged containers. */
export function defaultMaskedPaths(): string[] {
  return [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
  ];
}

/** Kernel knobs an unprivileged container may read but not change. */
export function defaultReadonlyPaths(): string[] {
  return ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
}

/** The kernel file systems every container gets. */
export function defaultMounts(): Mount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
  ];
}

/**
 * Device cgroup rules: deny everything, then allow the nodes every process expects
 * (null, zero, full, random, urandom, tty, console, ptmx and the pty slaves).
 */
export function defaultDeviceRules(): LinuxDeviceCgroup[] {
  const allow = (major: number, minor?: number): LinuxDeviceCgroup =>
    minor === undefined
      ? { allow: true, type: "c", major, access: "rwm" }
      : { allow: true, type: "c", major, minor, access: "rwm" };
  return [
    { allow: false, access: "rwm" },
    allow(1, 3), // /dev/null
    allow(1, 8), // /dev/random
    allow(1, 7), // /dev/full
    allow(5, 0), // /dev/tty
    allow(1, 5), // /dev/zero
    allow(1, 9), // /dev/urandom
    allow(5, 1), // /dev/console
    allow(136), // /dev/pts/*
    allow(5, 2), // /dev/ptmx
  ];
}

function defaultNamespaces(): LinuxNamespace[] {
  return [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }];
}

/**
 * The spec a container starts from, as containerd builds it for a container `id` in
 * namespace `namespace` (the default cgroup is /<namespace>/<id>): root in ./rootfs,
 * uid 0, cwd /, the default capabilities, mounts, masked and read-only paths, a NOFILE
 * limit of 1024, new namespaces of every kind but user and cgroup, no new privileges.
 */
export function defaultUnixSpec(id: string, namespace = "default"): Spec {
  const caps = defaultCapabilities();
  return {
    ociVersion: OCI_VERSION,
    process: {
      user: { uid: 0, gid: 0 },
      args: [],
      cwd: "/",
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs" },
    mounts: defaultMounts(),
    linux: {
      maskedPaths: defaultMaskedPaths(),
      readonlyPaths: defaultReadonlyPaths(),
      cgroupsPath: `/${namespace}/${id}`,
      resources: { devices: defaultDeviceRules() },
      namespaces: defaultNamespaces(),
    },
  };
}

/** Replace the namespace of `ns.type`, or add it. */
export function setNamespace(spec: Spec, ns: LinuxNamespace): void {
  const i = spec.linux.namespaces.findIndex((n) => n.type === ns.type);
  if (i >= 0) spec.linux.namespaces[i] = ns;
  else spec.linux.namespaces.push(ns);
}

/** Share the host's namespace of this type: the spec names none. */
export function removeNamespace(spec: Spec, type: NamespaceType): void {
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== type);
}

/**
 * Set environment entries over `base`: `KEY=value` replaces the entry of the same key or
 * is appended; a bare `KEY` removes it (image configs use that to unset a variable).
 */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out: Array<string | undefined> = [...base];
  const index = new Map<string, number>();
  base.forEach((e, i) => index.set(envKey(e), i));
  for (const entry of overrides) {
    const key = envKey(entry);
    const at = index.get(key);
    if (!entry.includes("=")) {
      if (at !== undefined) out[at] = undefined;
      continue;
    }
    if (at !== undefined) out[at] = entry;
    else {
      index.set(key, out.length);
      out.push(entry);
    }
  }
  return out.filter((e): e is string => e !== undefined);
}

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}
