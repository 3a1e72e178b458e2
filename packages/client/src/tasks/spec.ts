// The OCI runtime spec of a container started from an image, the way `ctr run` builds
// it: containerd's Unix defaults (mounts, capabilities, masked and read-only paths, a new
// namespace of each kind, a deny-all device cgroup with the usual character devices
// allowed), then the image config (entrypoint and command, environment, working
// directory, user), then the caller's overrides. Pure functions: what needs the image's
// files (users and groups) is passed in already resolved.

import type { Any } from "@berth/api/google/protobuf/any";
import { invalidArgument } from "../errdefs.js";
import {
  DEFAULT_PATH_ENV,
  mergeEnv,
  defaultMounts as ociDefaultMounts,
  defaultUnixSpec as ociDefaultUnixSpec,
} from "../oci/spec.js";

export { defaultCapabilities, defaultDeviceRules, mergeEnv } from "../oci/spec.js";

/** Type URLs containerd's typeurl registry gives the runtime-spec types; the value is JSON. */
export const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
export const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/** The runtime-spec version containerd 1.6 writes. */
export { OCI_VERSION as RUNTIME_SPEC_VERSION } from "../oci/spec.js";

export { DEFAULT_PATH_ENV } from "../oci/spec.js";

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

/**
 * The mounts `ctr run` gives a container: containerd's Unix defaults, which have a tmpfs
 * on /run where CRI's containers get the cgroup file system instead.
 */
export function defaultMounts(): SpecMount[] {
  return [
    ...ociDefaultMounts().filter((m) => m.destination !== "/sys/fs/cgroup"),
    {
      destination: "/run",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
  ];
}

/**
 * containerd's default Unix spec for container `id` in `namespace` (its cgroup is
 * /<namespace>/<id>), with the default device rules `ctr run` adds: the shared defaults of
 * oci/spec.ts with ctr's mounts.
 */
export function defaultUnixSpec(namespace: string, id: string): RuntimeSpec {
  const spec: RuntimeSpec = ociDefaultUnixSpec(id, namespace);
  spec.mounts = defaultMounts();
  return spec;
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
