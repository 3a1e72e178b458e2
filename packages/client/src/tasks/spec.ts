// The OCI runtime spec of a container started from an image, the way `ctr run` builds
// it: containerd's Unix defaults (mounts, capabilities, masked and read-only paths, a new
// namespace of each kind, a deny-all device cgroup with the usual character devices
// allowed), then the image config (entrypoint and command, environment, working
// directory, user), then the caller's overrides. Pure functions: what needs the image's
// files (users and groups) is passed in already resolved.

import type { Any } from "@berth/api/google/protobuf/any";
import { invalidArgument } from "../errdefs.js";

/** Type URLs containerd's typeurl registry gives the runtime-spec types; the value is JSON. */
export const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
export const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/** The runtime-spec version containerd 1.6 writes. */
export const RUNTIME_SPEC_VERSION = "1.0.2-dev";

export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface SpecUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface SpecCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface SpecRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface SpecProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: SpecUser;
  args?: string[];
  env?: string[];
  cwd: string;
  capabilities?: SpecCapabilities;
  rlimits?: SpecRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface SpecDeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface SpecResources {
  devices?: SpecDeviceRule[];
  memory?: { limit?: number; reservation?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

export interface SpecNamespace {
  type: string;
  path?: string;
}

export interface SpecLinux {
  resources?: SpecResources;
  cgroupsPath?: string;
  namespaces?: SpecNamespace[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  sysctl?: Record<string, string>;
}

/** The parts of the OCI runtime spec Berth's clients write. Unknown fields of specs read back are kept. */
export interface RuntimeSpec {
  ociVersion: string;
  process?: SpecProcess;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: SpecMount[];
  annotations?: Record<string, string>;
  linux?: SpecLinux;
}

/** The fields of an image config's `config` section that decide how a container runs. */
export interface ImageRunConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
}

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

export function defaultMounts(): SpecMount[] {
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
      destination: "/run",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
  ];
}

/** /dev/null, random, full, tty, zero, urandom, console, the pts and ptmx: what a container may use. */
export function defaultDeviceRules(): SpecDeviceRule[] {
  const char = (major: number, minor?: number): SpecDeviceRule => ({
    allow: true,
    type: "c",
    major,
    ...(minor !== undefined ? { minor } : {}),
    access: "rwm",
  });
  return [
    char(1, 3),
    char(1, 8),
    char(1, 7),
    char(5, 0),
    char(1, 5),
    char(1, 9),
    char(5, 1),
    char(136),
    char(5, 2),
  ];
}

/**
 * containerd's default Unix spec for container `id` in `namespace` (its cgroup is
 * /<namespace>/<id>), with the default device rules `ctr run` adds.
 */
export function defaultUnixSpec(namespace: string, id: string): RuntimeSpec {
  return {
    ociVersion: RUNTIME_SPEC_VERSION,
    process: {
      user: { uid: 0, gid: 0 },
      cwd: "/",
      capabilities: {
        bounding: defaultCapabilities(),
        effective: defaultCapabilities(),
        permitted: defaultCapabilities(),
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs" },
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }, ...defaultDeviceRules()] },
      cgroupsPath: `/${namespace}/${id}`,
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
      maskedPaths: [
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
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}

/**
 * `overrides` applied to `defaults`: KEY=VALUE replaces the variable or is appended, a
 * bare KEY removes it (Docker's and containerd's rule).
 */
export function mergeEnv(defaults: readonly string[], overrides: readonly string[]): string[] {
  const result: Array<string | undefined> = [...defaults];
  const index = new Map<string, number>();
  defaults.forEach((e, i) => index.set(envKey(e), i));
  for (const value of overrides) {
    const key = envKey(value);
    const at = index.get(key);
    if (!value.includes("=")) {
      if (at !== undefined) result[at] = undefined;
      continue;
    }
    if (at !== undefined) {
      result[at] = value;
    } else {
      index.set(key, result.length);
      result.push(value);
    }
  }
  return result.filter((e): e is string => e !== undefined);
}

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** The user an image config names, resolved against the image's /etc/passwd and /etc/group. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups from /etc/group; the primary group is added when missing. */
  additionalGids: number[];
}

export interface RunSpecOptions {
  /** containerd namespace and container ID: they name the cgroup. */
  namespace: string;
  id: string;
  /** The image's config section; without it the process runs `args` as root in /. */
  image?: ImageRunConfig;
  /** The user to run as, resolved from the image's USER (default: root with its groups). */
  user?: ResolvedUser;
  /** Replace the image's entrypoint and command. */
  args?: readonly string[];
  /** KEY=VALUE to set, KEY to unset, applied over the image's environment. */
  env?: readonly string[];
  cwd?: string;
  /** Allocate a terminal (adds TERM=xterm, like ctr). */
  tty?: boolean;
  /** Share the host's network namespace, /etc/hosts and /etc/resolv.conf. */
  netHost?: boolean;
  /** HOSTNAME for the environment with netHost. */
  hostname?: string;
  /** Memory cgroup limit in bytes. */
  memoryLimit?: number;
  /** CPU shares (ctr's default is 1024). */
  cpuShares?: number;
  annotations?: Record<string, string>;
  mounts?: readonly SpecMount[];
}

/** The spec `ctr run IMAGE ID [ARGS…]` would give the container. */
export function buildRunSpec(options: RunSpecOptions): RuntimeSpec {
  const spec = defaultUnixSpec(options.namespace, options.id);
  const process = spec.process!;
  const linux = spec.linux!;
  if (options.mounts !== undefined) spec.mounts = [...spec.mounts!, ...options.mounts];

  // The caller's environment is applied over the image's (or the default PATH).
  const image = options.image;
  const imageEnv = image?.Env !== undefined && image.Env.length > 0 ? image.Env : [DEFAULT_PATH_ENV];
  process.env = mergeEnv(imageEnv, options.env ?? []);
  process.args = [...(image?.Entrypoint ?? []), ...(image?.Cmd ?? [])];
  process.cwd = image?.WorkingDir !== undefined && image.WorkingDir !== "" ? image.WorkingDir : "/";
  const user = options.user ?? { uid: 0, gid: 0, additionalGids: [] };
  process.user = {
    uid: user.uid,
    gid: user.gid,
    additionalGids: user.additionalGids.includes(user.gid)
      ? [...user.additionalGids]
      : [user.gid, ...user.additionalGids],
  };

  if (options.args !== undefined && options.args.length > 0) process.args = [...options.args];
  if (process.args.length === 0) {
    throw invalidArgument("no command to run: the image has no entrypoint or command; give one after the ID");
  }
  if (options.cwd !== undefined && options.cwd !== "") process.cwd = options.cwd;
  if (options.tty === true) {
    process.terminal = true;
    process.env.push("TERM=xterm");
  }
  if (options.netHost === true) {
    linux.namespaces = linux.namespaces!.filter((ns) => ns.type !== "network");
    spec.mounts!.push(
      { destination: "/etc/hosts", type: "bind", source: "/etc/hosts", options: ["rbind", "ro"] },
      { destination: "/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf", options: ["rbind", "ro"] },
    );
    if (options.hostname !== undefined) process.env = mergeEnv(process.env, [`HOSTNAME=${options.hostname}`]);
  }
  const resources = linux.resources!;
  if (options.cpuShares !== undefined && options.cpuShares > 0) resources.cpu = { shares: options.cpuShares };
  if (options.memoryLimit !== undefined && options.memoryLimit > 0)
    resources.memory = { limit: options.memoryLimit };
  if (options.annotations !== undefined && Object.keys(options.annotations).length > 0) {
    spec.annotations = { ...options.annotations };
  }
  return spec;
}

export interface ExecProcessOptions {
  args: readonly string[];
  tty?: boolean;
  cwd?: string;
}

/** An exec's process: the container's own process settings with new args (what `ctr tasks exec` sends). */
export function execProcessSpec(spec: RuntimeSpec, options: ExecProcessOptions): SpecProcess {
  if (spec.process === undefined) {
    throw invalidArgument("the container's spec has no process section: exec needs one to copy");
  }
  if (options.args.length === 0) throw invalidArgument("exec needs a command to run");
  const process: SpecProcess = { ...spec.process, args: [...options.args], terminal: options.tty === true };
  if (options.cwd !== undefined && options.cwd !== "") process.cwd = options.cwd;
  return process;
}

export function specToAny(spec: RuntimeSpec): Any {
  return { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };
}

export function processToAny(process: SpecProcess): Any {
  return { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(process)) };
}

/** A container record's spec, decoded from its JSON Any. */
export function specFromAny(any: Any | undefined, id: string): RuntimeSpec {
  if (any === undefined || any.value.length === 0) {
    throw invalidArgument(`container ${id} has no runtime spec`);
  }
  if (any.typeUrl !== SPEC_TYPE_URL && !any.typeUrl.endsWith("/runtime-spec/1/Spec")) {
    throw invalidArgument(`container ${id} has a spec of type ${any.typeUrl}, not an OCI runtime spec`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(any.value).toString("utf8"));
  } catch {
    throw invalidArgument(`container ${id} has a runtime spec that is not JSON`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw invalidArgument(`container ${id} has a runtime spec that is not a JSON object`);
  }
  return doc as RuntimeSpec;
}
