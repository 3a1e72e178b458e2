// OCI runtime specs for CRI pod sandboxes and containers, built the way containerd 1.6's CRI
// plugin builds them, so that kubelet, crictl and critest see the same behaviour.
// The builders are pure but for what they read from the node through SpecHost (device
// nodes, mount propagation, capabilities, seccomp profile files, oom_score_adj).

import {
  type ContainerConfig,
  type Mount as CriMount,
  type LinuxContainerResources,
  type LinuxContainerSecurityContext,
  MountPropagation,
  NamespaceMode,
  type NamespaceOption,
  type PodSandboxConfig,
  type SecurityProfile,
  SecurityProfile_ProfileType,
} from "@berth/api/cri/runtime/v1/api";
import { errorMessage, invalidArgument } from "../errdefs.js";
import { capabilityName } from "./capabilities.js";
import { type SpecHost, nodeHost } from "./host.js";
import { clampOomScoreAdj } from "./oom-score-adj.js";
import { defaultSeccompProfile, loadLocalhostProfile } from "./seccomp.js";
import {
  DEFAULT_PATH_ENV,
  type LinuxDeviceCgroup,
  type LinuxResources,
  type Mount,
  type Spec,
  defaultMaskedPaths,
  defaultReadonlyPaths,
  defaultUnixSpec,
  mergeEnv,
  removeNamespace,
  setNamespace,
} from "./spec.js";
import { type GroupLookup, type PasswdLookup, imageUser, securityContextUser, sortedUnique } from "./user.js";

/** Annotations runtimes and shims read to tell sandboxes from containers and group them by pod. */
export const CriAnnotations = {
  containerType: "io.kubernetes.cri.container-type",
  containerTypeSandbox: "sandbox",
  containerTypeContainer: "container",
  sandboxId: "io.kubernetes.cri.sandbox-id",
  sandboxName: "io.kubernetes.cri.sandbox-name",
  sandboxNamespace: "io.kubernetes.cri.sandbox-namespace",
  sandboxUid: "io.kubernetes.cri.sandbox-uid",
  sandboxLogDirectory: "io.kubernetes.cri.sandbox-log-directory",
  sandboxCpuPeriod: "io.kubernetes.cri.sandbox-cpu-period",
  sandboxCpuQuota: "io.kubernetes.cri.sandbox-cpu-quota",
  sandboxCpuShares: "io.kubernetes.cri.sandbox-cpu-shares",
  sandboxMemory: "io.kubernetes.cri.sandbox-memory",
  containerName: "io.kubernetes.cri.container-name",
  imageName: "io.kubernetes.cri.image-name",
} as const;

/** The containerd namespace CRI objects live in; it names the default cgroup. */
export const CRI_NAMESPACE = "k8s.io";
/** The pause container is the last process the OOM killer should pick. */
export const SANDBOX_OOM_SCORE_ADJ = -998;
/** CPU shares of the pause container: it only sleeps. */
export const SANDBOX_CPU_SHARES = 2;

const ETC_HOSTS = "/etc/hosts";
const ETC_HOSTNAME = "/etc/hostname";
const ETC_RESOLV_CONF = "/etc/resolv.conf";
const DEV_SHM = "/dev/shm";
const TERMINATION_LOG = "/dev/termination-log";

/** The parts of an image's config the specs use (OCI image config, camel-cased). */
export interface ImageConfig {
  env?: string[];
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  user?: string;
  /** Image volumes by container path (the OCI config's `Volumes` keys, or a list of them). */
  volumes?: Record<string, unknown> | string[];
}

/** Settings of the runtime rather than of one request (containerd's CRI config keys). */
export interface SpecBuildOptions {
  /** The node to read devices, mounts, capabilities and profiles from; the real one by default. */
  host?: SpecHost;
  /** Never ask for an oom_score_adj below this process's own (default true). */
  restrictOomScoreAdj?: boolean;
  /** Seccomp profile for requests that name none ("", "runtime/default", "unconfined", "localhost/<path>"); default "". */
  unsetSeccompProfile?: string;
  /** Skip hugepage limits when the hugetlb controller is missing instead of failing (default true). */
  tolerateMissingHugetlbController?: boolean;
}

export interface SandboxSpecRequest extends SpecBuildOptions {
  id: string;
  config: PodSandboxConfig;
  imageConfig: ImageConfig;
  /** The pause process's argv; the image's entrypoint and cmd by default. */
  pauseArgs?: string[];
  /** The pinned network namespace; empty means a fresh one (host-network pods get none). */
  netnsPath: string;
  /** Cgroup parent; the config's linux.cgroup_parent by default. */
  cgroupParent?: string;
  resolvConfPath: string;
  hostnamePath?: string;
  hostsPath?: string;
  /** The sandbox's /dev/shm (a tmpfs the caller mounted); the host's is used for host IPC. */
  shmPath: string;
  passwdLookup?: PasswdLookup;
  groupLookup?: GroupLookup;
}

export interface ContainerSpecRequest extends SpecBuildOptions {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  sandboxConfig: PodSandboxConfig;
  imageConfig: ImageConfig;
  /**
   * The pause process: the container joins its network, IPC, UTS and (pod mode) PID
   * namespaces through /proc/<pid>/ns. Without one (0 or unset) the container gets
   * fresh namespaces, which suits a container run on its own.
   */
  sandboxPid?: number;
  /** The sandbox's pinned network namespace; preferred over /proc/<sandboxPid>/ns/net. */
  netnsPath?: string;
  /** The process of the container a TARGET-mode PID namespace joins. */
  targetPid?: number;
  cgroupParent?: string;
  hostsPath: string;
  resolvConfPath: string;
  hostnamePath: string;
  shmPath: string;
  imageName: string;
  /** A host file to bind at /dev/termination-log (or `terminationLogContainerPath`). */
  terminationLogPath?: string;
  terminationLogContainerPath?: string;
  /** A host directory for the image's volumes (one subdirectory each); image volumes are skipped without it. */
  volumesDir?: string;
  passwdLookup?: PasswdLookup;
  groupLookup?: GroupLookup;
}

/**
 * The container's argv from the CRI config and the image, as Docker and containerd merge
 * them: a command replaces the entrypoint and drops the image's cmd; args replace the cmd.
 * An entrypoint of [""] counts as none.
 */
export function processArgs(
  config: Pick<ContainerConfig, "command" | "args">,
  image: Pick<ImageConfig, "entrypoint" | "cmd">,
): string[] {
  let command = [...config.command];
  let args = [...config.args];
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.cmd ?? [])];
    const entrypoint = image.entrypoint ?? [];
    if (!(entrypoint.length === 1 && entrypoint[0] === "")) command = [...entrypoint];
  }
  if (command.length === 0 && args.length === 0) {
    throw invalidArgument(
      "no command specified: set command or args in the container config, or use an image with an entrypoint or cmd",
    );
  }
  return [...command, ...args];
}

/**
 * The cgroup of a sandbox or container under its parent. As containerd's CRI: a path under
 * the parent for the cgroupfs driver (whatever the parent is named, `system.slice`
 * included), and a systemd unit `<slice>:berth:<id>` only for the systemd driver. (A
 * systemd path given to runc's cgroupfs driver is taken as a relative directory name: the
 * container's cgroup then sat under the shim's, and its OOM kills went unseen.)
 */
export function cgroupsPath(parent: string, id: string, systemd = false): string {
  if (systemd) {
    const slice =
      parent
        .split("/")
        .filter((p) => p !== "")
        .pop() ?? "";
    return `${slice}:berth:${id}`;
  }
  return cleanPath(`${parent}/${id}`);
}

/** A POSIX path with `.`, `..`, and repeated or trailing slashes resolved (Go's filepath.Clean). */
export function cleanPath(p: string): string {
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (abs) return `/${joined}`;
  return joined === "" ? "." : joined;
}

// ---- security profiles ----

function profileFromPath(path: string, what: string): SecurityProfile {
  switch (path) {
    case "":
    case "runtime/default":
    case "docker/default":
      return { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: "" };
    case "unconfined":
      return { profileType: SecurityProfile_ProfileType.Unconfined, localhostRef: "" };
    default:
      if (!path.startsWith("localhost/")) {
        throw invalidArgument(
          `invalid ${what} profile ${JSON.stringify(path)}: use runtime/default, docker/default, unconfined or localhost/<path>`,
        );
      }
      return {
        profileType: SecurityProfile_ProfileType.Localhost,
        localhostRef: path.slice("localhost/".length),
      };
  }
}

function seccompProfileOf(
  field: SecurityProfile | undefined,
  deprecatedPath: string,
  unset: string,
): SecurityProfile | undefined {
  if (field !== undefined) return field;
  if (deprecatedPath !== "") return profileFromPath(deprecatedPath, "seccomp");
  if (unset !== "") return profileFromPath(unset, "seccomp");
  return undefined;
}

/** Apply a seccomp request to a spec whose capabilities are final (RuntimeDefault depends on them). */
function applySeccomp(
  spec: Spec,
  profile: SecurityProfile | undefined,
  privileged: boolean,
  host: SpecHost,
): void {
  spec.linux.seccomp = undefined;
  if (privileged || profile === undefined) return;
  if (profile.profileType !== SecurityProfile_ProfileType.Localhost && profile.localhostRef !== "") {
    throw invalidArgument(
      "seccomp localhost_ref is set but profile_type is not Localhost: set only one of them",
    );
  }
  switch (profile.profileType) {
    case SecurityProfile_ProfileType.Unconfined:
      return;
    case SecurityProfile_ProfileType.RuntimeDefault:
      spec.linux.seccomp = defaultSeccompProfile(spec.process.capabilities?.bounding ?? [], {
        arch: host.arch(),
        kernelRelease: host.kernelRelease(),
      });
      return;
    case SecurityProfile_ProfileType.Localhost: {
      const path = profile.localhostRef.startsWith("localhost/")
        ? profile.localhostRef.slice("localhost/".length)
        : profile.localhostRef;
      if (path === "")
        throw invalidArgument("seccomp profile_type Localhost needs localhost_ref: the profile's path");
      spec.linux.seccomp = loadLocalhostProfile(path, host);
      return;
    }
    default:
      throw invalidArgument(
        `unknown seccomp profile_type ${profile.profileType}: use RuntimeDefault, Unconfined or Localhost`,
      );
  }
}

/** This node has no AppArmor: anything but "unconfined" (or nothing) cannot be honoured. */
function checkAppArmor(field: SecurityProfile | undefined, deprecatedName: string): void {
  const profile = field ?? (deprecatedName === "" ? undefined : profileFromPath(deprecatedName, "apparmor"));
  if (profile === undefined || profile.profileType === SecurityProfile_ProfileType.Unconfined) return;
  const name =
    profile.profileType === SecurityProfile_ProfileType.Localhost
      ? `localhost/${profile.localhostRef}`
      : "runtime/default";
  throw invalidArgument(
    `apparmor is not available on this host: the AppArmor profile ${JSON.stringify(name)} cannot be applied; remove it or use unconfined`,
  );
}

function checkUserNamespace(ns: NamespaceOption | undefined): void {
  const mode = ns?.usernsOptions?.mode;
  if (mode !== undefined && mode !== NamespaceMode.NODE) {
    throw invalidArgument(
      "user namespaces are not supported by this runtime: remove userns_options (hostUsers: true) or set its mode to NODE",
    );
  }
}

// ---- users ----

function resolveUser(
  spec: Spec,
  user: string,
  gidsUser: string,
  supplementalGroups: readonly bigint[],
  passwd: PasswdLookup | undefined,
  group: GroupLookup | undefined,
): void {
  const resolved = user === "" ? { uid: 0, gid: 0, additionalGids: [] } : imageUser(user, passwd, group);
  const memberships = passwd?.(gidsUser)?.additionalGids ?? [];
  const supplemental = supplementalGroups.map((g) => {
    if (g < 0n || g > 0xffffffffn) {
      throw invalidArgument(`supplemental group ${g} is not a valid gid: use a number from 0 to 4294967295`);
    }
    return Number(g);
  });
  spec.process.user = {
    uid: resolved.uid,
    gid: resolved.gid,
    additionalGids: sortedUnique([resolved.gid, ...memberships, ...supplemental]),
  };
}

// ---- mounts ----

function isCovered(dst: string, mounts: readonly CriMount[]): boolean {
  const clean = cleanPath(dst);
  return mounts.some((m) => cleanPath(m.containerPath) === clean);
}

function pathDepth(p: string): number {
  return (cleanPath(p).match(/\//g) ?? []).length;
}

function bindMount(spec: Spec, m: CriMount, host: SpecHost): Mount {
  if (m.containerPath === "" || !m.containerPath.startsWith("/")) {
    throw invalidArgument(`mount container_path ${JSON.stringify(m.containerPath)} is not an absolute path`);
  }
  if (m.hostPath === "") throw invalidArgument(`mount at ${m.containerPath} has no host_path`);
  let src: string;
  try {
    src = host.prepareMountSource(m.hostPath);
  } catch (err) {
    throw invalidArgument(
      `cannot use host path ${m.hostPath} for the mount at ${m.containerPath}: ${errorMessage(err)}`,
    );
  }
  const options = ["rbind"];
  switch (m.propagation) {
    case MountPropagation.PROPAGATION_PRIVATE:
      options.push("rprivate");
      break;
    case MountPropagation.PROPAGATION_BIDIRECTIONAL: {
      const info = host.lookupMount(src);
      if (!info.optional.some((o) => o.startsWith("shared:"))) {
        throw invalidArgument(
          `path ${src} is mounted on ${info.mountpoint} but it is not a shared mount: run "mount --make-rshared ${info.mountpoint}" on the node, or ask for another propagation`,
        );
      }
      options.push("rshared");
      spec.linux.rootfsPropagation = "rshared";
      break;
    }
    case MountPropagation.PROPAGATION_HOST_TO_CONTAINER: {
      const info = host.lookupMount(src);
      if (!info.optional.some((o) => o.startsWith("shared:") || o.startsWith("master:"))) {
        throw invalidArgument(
          `path ${src} is mounted on ${info.mountpoint} but it is not a shared or slave mount: run "mount --make-rshared ${info.mountpoint}" on the node, or ask for private propagation`,
        );
      }
      options.push("rslave");
      if (spec.linux.rootfsPropagation !== "rshared") spec.linux.rootfsPropagation = "rslave";
      break;
    }
    default:
      options.push("rprivate");
  }
  // A read-only rootfs does not make the bind mounts read-only: each says for itself.
  options.push(m.readonly ? "ro" : "rw");
  return { destination: m.containerPath, type: "bind", source: src, options };
}

/** Put the CRI mounts (and the runtime's extra ones they do not override) over the default mounts. */
function applyMounts(
  spec: Spec,
  criMounts: readonly CriMount[],
  extra: readonly CriMount[],
  host: SpecHost,
): void {
  const all = [...criMounts, ...extra.filter((e) => !isCovered(e.containerPath, criMounts))];
  // Shallow destinations first, so that a mount never hides a deeper one (stable for equal depths).
  const sorted = all
    .map((m, i) => ({ m, i }))
    .sort((a, b) => pathDepth(a.m.containerPath) - pathDepth(b.m.containerPath) || a.i - b.i);
  const destinations = new Set(all.map((m) => cleanPath(m.containerPath)));
  const devSupplied = destinations.has("/dev");
  spec.mounts = spec.mounts.filter((m) => {
    const dst = cleanPath(m.destination);
    return !destinations.has(dst) && !(devSupplied && dst.startsWith("/dev/"));
  });
  for (const { m } of sorted) spec.mounts.push(bindMount(spec, m, host));
}

function criMount(containerPath: string, hostPath: string, readonly: boolean): CriMount {
  return {
    containerPath,
    hostPath,
    readonly,
    selinuxRelabel: false,
    propagation: MountPropagation.PROPAGATION_PRIVATE,
  };
}

function imageVolumePaths(volumes: ImageConfig["volumes"]): string[] {
  if (volumes === undefined) return [];
  return Array.isArray(volumes) ? volumes : Object.keys(volumes);
}

/** A stable directory name for an image volume, so that the same request builds the same spec. */
function volumeDirName(containerPath: string): string {
  const name = cleanPath(containerPath)
    .replace(/^\//, "")
    .replace(/[^A-Za-z0-9._-]/g, "_");
  return name === "" ? "_" : name;
}

// ---- devices and resources ----

function devicePermissions(p: string, path: string): string {
  if (p === "") return "rwm";
  if (!/^[rwm]{1,3}$/.test(p) || new Set(p).size !== p.length) {
    throw invalidArgument(
      `device ${path} has permissions ${JSON.stringify(p)}: use a combination of r, w and m`,
    );
  }
  return p;
}

function applyDevices(spec: Spec, config: ContainerConfig, host: SpecHost): void {
  if (config.devices.length === 0) return;
  const devices = spec.linux.devices ?? [];
  const rules = spec.linux.resources?.devices ?? [];
  for (const d of config.devices) {
    if (d.hostPath === "") throw invalidArgument("a device needs host_path: the device node on the node");
    const access = devicePermissions(d.permissions, d.hostPath);
    for (const dev of host.devices(d.hostPath, d.containerPath)) {
      devices.push(dev);
      const rule: LinuxDeviceCgroup = {
        allow: true,
        type: dev.type,
        major: dev.major,
        minor: dev.minor,
        access,
      };
      rules.push(rule);
    }
  }
  spec.linux.devices = devices;
  spec.linux.resources = { ...spec.linux.resources, devices: rules };
}

function applyResources(
  spec: Spec,
  r: LinuxContainerResources | undefined,
  host: SpecHost,
  tolerateMissingHugetlb: boolean,
): void {
  if (r === undefined) return;
  spec.linux.resources = mergeResources(
    spec.linux.resources ?? {},
    criResources(r, host, tolerateMissingHugetlb),
  );
}

/**
 * The OCI resources a CRI request asks for, only the fields it sets: what CreateContainer
 * puts in the spec and UpdateContainerResources merges into it (as containerd uses one
 * conversion for both). A memory limit without a swap limit also limits swap to it where
 * swap is accounted, so that a container does not swap by default and a raised limit is
 * not left above an older swap limit.
 */
export function criResources(
  r: LinuxContainerResources,
  host: SpecHost,
  tolerateMissingHugetlb: boolean,
): LinuxResources {
  const out: LinuxResources = {};
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  const memory: NonNullable<LinuxResources["memory"]> = {};
  const period = int64(r.cpuPeriod, "cpu_period", 0);
  const quota = int64(r.cpuQuota, "cpu_quota");
  const shares = int64(r.cpuShares, "cpu_shares", 0);
  const limit = int64(r.memoryLimitInBytes, "memory_limit_in_bytes", 0);
  const swap = int64(r.memorySwapLimitInBytes, "memory_swap_limit_in_bytes");
  if (period !== 0) cpu.period = period;
  if (quota !== 0) cpu.quota = quota;
  if (shares !== 0) cpu.shares = shares;
  if (r.cpusetCpus !== "") cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== "") cpu.mems = r.cpusetMems;
  if (limit !== 0) {
    memory.limit = limit;
    if (swap === 0 && host.swapControllerAvailable()) memory.swap = limit;
  }
  if (swap !== 0) memory.swap = swap;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (Object.keys(memory).length > 0) out.memory = memory;
  if (r.hugepageLimits.length > 0) {
    if (host.hugetlbControllerAvailable()) {
      out.hugepageLimits = r.hugepageLimits.map((h) => ({
        pageSize: h.pageSize,
        limit: int64(h.limit, `hugepage_limits[${h.pageSize}].limit`, 0),
      }));
    } else if (!tolerateMissingHugetlb) {
      throw invalidArgument(
        "huge page limits are given but the hugetlb cgroup controller is missing on this node: enable it, or tolerate its absence in the runtime config",
      );
    }
  }
  // Unified (cgroup v2) files would make runc fail on a v1 host.
  const unified = Object.entries(r.unified);
  if (unified.length > 0 && host.cgroupV2()) out.unified = Object.fromEntries(unified);
  return out;
}

/** `given` over `current`: CPU and memory field by field, the other groups whole. */
export function mergeResources(current: LinuxResources, given: LinuxResources): LinuxResources {
  return {
    ...current,
    ...given,
    cpu: { ...current.cpu, ...given.cpu },
    memory: { ...current.memory, ...given.memory },
  };
}

/**
 * A CRI int64 as a spec number. Values past 2^53 (8 PiB of memory) cannot be written
 * exactly in JSON numbers from JavaScript and mean nothing for these fields: rejected.
 */
function int64(v: bigint, field: string, min?: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw invalidArgument(`${field} ${v} is out of range: use a value below 2^53`);
  }
  const n = Number(v);
  if (min !== undefined && n < min) {
    throw invalidArgument(`${field} ${v} is negative: use 0 (unset) or a positive value`);
  }
  return n;
}

// ---- capabilities ----

function applyCapabilities(spec: Spec, sc: LinuxContainerSecurityContext | undefined, host: SpecHost): void {
  const requested = sc?.capabilities;
  if (requested === undefined) return;
  const caps = spec.process.capabilities ?? {};
  let bounding = caps.bounding ?? [];
  let effective = caps.effective ?? [];
  let permitted = caps.permitted ?? [];
  const isAll = (c: string) => c.trim().toUpperCase() === "ALL";
  // "ALL" first, so that single names still apply on top: add ALL + drop CHOWN is all but CHOWN.
  if (requested.addCapabilities.some(isAll)) {
    const all = host.currentCapabilities();
    bounding = [...all];
    effective = [...all];
    permitted = [...all];
  }
  if (requested.dropCapabilities.some(isAll)) {
    bounding = [];
    effective = [];
    permitted = [];
  }
  for (const name of requested.addCapabilities) {
    if (isAll(name)) continue;
    const cap = capabilityName(name, "add_capabilities");
    for (const set of [bounding, effective, permitted]) if (!set.includes(cap)) set.push(cap);
  }
  for (const name of requested.dropCapabilities) {
    if (isAll(name)) continue;
    const cap = capabilityName(name, "drop_capabilities");
    bounding = bounding.filter((c) => c !== cap);
    effective = effective.filter((c) => c !== cap);
    permitted = permitted.filter((c) => c !== cap);
  }
  spec.process.capabilities = { ...caps, bounding, effective, permitted };
}

function makePrivileged(spec: Spec, host: SpecHost): void {
  const all = host.currentCapabilities();
  spec.process.capabilities = { bounding: [...all], effective: [...all], permitted: [...all] };
  spec.linux.maskedPaths = undefined;
  spec.linux.readonlyPaths = undefined;
  for (const m of spec.mounts) {
    if ((m.type === "sysfs" || m.type === "cgroup") && m.options !== undefined) {
      m.options = m.options.map((o) => (o === "ro" ? "rw" : o));
    }
  }
  spec.process.selinuxLabel = undefined;
  spec.process.apparmorProfile = undefined;
  spec.linux.seccomp = undefined;
  spec.linux.devices = [...(spec.linux.devices ?? []), ...host.hostDevices()];
  spec.linux.resources ??= {};
  spec.linux.resources.devices = [{ allow: true, access: "rwm" }];
}

// ---- shared parts ----

/** A spec without containerd's default security settings: CRI decides them per request. */
function criBaseSpec(id: string): Spec {
  const spec = defaultUnixSpec(id, CRI_NAMESPACE);
  spec.process.rlimits = undefined; // the runtime's limits apply, as with Docker
  spec.process.apparmorProfile = undefined;
  spec.linux.seccomp = undefined;
  return spec;
}

function setOomScoreAdj(spec: Spec, value: number, opts: SpecBuildOptions, host: SpecHost): void {
  if (!Number.isInteger(value) || value < -1000 || value > 1000) {
    throw invalidArgument(`oom_score_adj ${value} is out of range: use an integer from -1000 to 1000`);
  }
  spec.process.oomScoreAdj =
    opts.restrictOomScoreAdj === false ? value : clampOomScoreAdj(value, host.currentOomScoreAdj());
}

function sandboxAnnotations(id: string, config: PodSandboxConfig): Record<string, string> {
  return {
    [CriAnnotations.sandboxId]: id,
    [CriAnnotations.sandboxNamespace]: config.metadata?.namespace ?? "",
    [CriAnnotations.sandboxUid]: config.metadata?.uid ?? "",
    [CriAnnotations.sandboxName]: config.metadata?.name ?? "",
  };
}

function mode(ns: NamespaceOption | undefined, kind: "network" | "pid" | "ipc"): NamespaceMode {
  return ns?.[kind] ?? NamespaceMode.POD;
}

// ---- the builders ----

/** The spec of a pod's pause container. */
export function sandboxSpec(req: SandboxSpecRequest): Spec {
  const host = req.host ?? nodeHost;
  const { id, config, imageConfig } = req;
  const sc = config.linux?.securityContext;
  const nsOptions = sc?.namespaceOptions;
  const hostNetwork = mode(nsOptions, "network") === NamespaceMode.NODE;
  const hostIpc = mode(nsOptions, "ipc") === NamespaceMode.NODE;
  const hostPid = mode(nsOptions, "pid") === NamespaceMode.NODE;
  checkUserNamespace(nsOptions);

  const spec = criBaseSpec(id);
  spec.root.readonly = true;
  spec.process.env = mergeEnv([], imageConfig.env ?? []);
  if (imageConfig.workingDir) spec.process.cwd = imageConfig.workingDir;
  const args = req.pauseArgs ?? [...(imageConfig.entrypoint ?? []), ...(imageConfig.cmd ?? [])];
  if (args.length === 0) {
    throw invalidArgument(
      "the sandbox image has neither entrypoint nor cmd: use a pause image, or give the pause command",
    );
  }
  spec.process.args = args;

  const parent = req.cgroupParent ?? config.linux?.cgroupParent ?? "";
  if (parent !== "") spec.linux.cgroupsPath = cgroupsPath(parent, id);

  if (hostNetwork) {
    removeNamespace(spec, "network");
    removeNamespace(spec, "uts");
  } else {
    setNamespace(spec, req.netnsPath === "" ? { type: "network" } : { type: "network", path: req.netnsPath });
    // runc sets the hostname only in a UTS namespace of the container's own.
    if (config.hostname !== "") spec.hostname = config.hostname;
  }
  if (hostPid) removeNamespace(spec, "pid");
  if (hostIpc) removeNamespace(spec, "ipc");

  const extra: Mount[] = [
    { destination: DEV_SHM, type: "bind", source: hostIpc ? DEV_SHM : req.shmPath, options: ["rbind", "ro"] },
    { destination: ETC_RESOLV_CONF, type: "bind", source: req.resolvConfPath, options: ["rbind", "ro"] },
  ];
  if (req.hostsPath)
    extra.push({ destination: ETC_HOSTS, type: "bind", source: req.hostsPath, options: ["rbind", "ro"] });
  if (req.hostnamePath) {
    extra.push({
      destination: ETC_HOSTNAME,
      type: "bind",
      source: req.hostnamePath,
      options: ["rbind", "ro"],
    });
  }
  const replaced = new Set(extra.map((m) => m.destination));
  spec.mounts = [...spec.mounts.filter((m) => !replaced.has(m.destination)), ...extra];

  const sysctls = { ...(config.linux?.sysctls ?? {}) };
  if (Object.keys(sysctls).length > 0) spec.linux.sysctl = sysctls;

  spec.linux.resources ??= {};
  spec.linux.resources.cpu = { ...spec.linux.resources.cpu, shares: SANDBOX_CPU_SHARES };

  const annotations: Record<string, string> = {};
  const res = config.linux?.resources;
  if (res !== undefined) {
    annotations[CriAnnotations.sandboxCpuPeriod] = String(res.cpuPeriod);
    annotations[CriAnnotations.sandboxCpuQuota] = String(res.cpuQuota);
    annotations[CriAnnotations.sandboxCpuShares] = String(res.cpuShares);
    annotations[CriAnnotations.sandboxMemory] = String(res.memoryLimitInBytes);
  }
  spec.annotations = {
    ...annotations,
    [CriAnnotations.containerType]: CriAnnotations.containerTypeSandbox,
    ...sandboxAnnotations(id, config),
    [CriAnnotations.sandboxLogDirectory]: config.logDirectory,
  };

  setOomScoreAdj(spec, SANDBOX_OOM_SCORE_ADJ, req, host);

  const user = securityContextUser("", sc?.runAsUser, sc?.runAsGroup) || (imageConfig.user ?? "");
  resolveUser(
    spec,
    user,
    user.split(":")[0] || "0",
    sc?.supplementalGroups ?? [],
    req.passwdLookup,
    req.groupLookup,
  );

  checkAppArmor(sc?.apparmor, "");
  const profile = seccompProfileOf(sc?.seccomp, sc?.seccompProfilePath ?? "", req.unsetSeccompProfile ?? "");
  applySeccomp(spec, profile, sc?.privileged ?? false, host);
  return spec;
}

/** The spec of an application container of a pod. */
export function containerSpec(req: ContainerSpecRequest): Spec {
  const host = req.host ?? nodeHost;
  const { id, config, sandboxConfig, imageConfig } = req;
  const sc = config.linux?.securityContext;
  const sandboxSc = sandboxConfig.linux?.securityContext;
  const privileged = sc?.privileged ?? false;
  if (config.metadata === undefined)
    throw invalidArgument("the container config has no metadata: set metadata.name");
  if (privileged && !(sandboxSc?.privileged ?? false)) {
    throw invalidArgument(
      "no privileged container allowed in sandbox: the pod's security context must be privileged too",
    );
  }
  checkUserNamespace(sc?.namespaceOptions);
  checkUserNamespace(sandboxSc?.namespaceOptions);
  checkAppArmor(sc?.apparmor, sc?.apparmorProfile ?? "");

  const spec = criBaseSpec(id);
  spec.process.args = processArgs(config, imageConfig);
  spec.process.noNewPrivileges = false;
  spec.process.cwd = config.workingDir || imageConfig.workingDir || "/";

  const hostname = sandboxConfig.hostname || host.hostname();
  let env = [DEFAULT_PATH_ENV];
  if (config.tty) {
    spec.process.terminal = true;
    env.push("TERM=xterm");
  }
  env = mergeEnv(env, [`HOSTNAME=${hostname}`]);
  env = mergeEnv(env, [...(imageConfig.env ?? []), ...config.envs.map((e) => `${e.key}=${e.value}`)]);
  spec.process.env = env;

  // Mounts: the pod's files and /dev/shm, image volumes, the termination log, then the request's.
  const readonlyRootfs = sc?.readonlyRootfs ?? false;
  const extra: CriMount[] = [];
  if (req.hostnamePath !== "") extra.push(criMount(ETC_HOSTNAME, req.hostnamePath, readonlyRootfs));
  if (req.hostsPath !== "") extra.push(criMount(ETC_HOSTS, req.hostsPath, readonlyRootfs));
  if (req.resolvConfPath !== "") extra.push(criMount(ETC_RESOLV_CONF, req.resolvConfPath, readonlyRootfs));
  const hostIpc =
    mode(sc?.namespaceOptions, "ipc") === NamespaceMode.NODE ||
    mode(sandboxSc?.namespaceOptions, "ipc") === NamespaceMode.NODE;
  extra.push(criMount(DEV_SHM, hostIpc ? DEV_SHM : req.shmPath, false));
  if (req.terminationLogPath !== undefined && req.terminationLogPath !== "") {
    extra.push(criMount(req.terminationLogContainerPath || TERMINATION_LOG, req.terminationLogPath, false));
  }
  if (req.volumesDir !== undefined) {
    for (const dst of imageVolumePaths(imageConfig.volumes)) {
      if (isCovered(dst, config.mounts)) continue;
      extra.push(criMount(dst, `${req.volumesDir}/${volumeDirName(dst)}`, false));
    }
  }
  applyMounts(spec, config.mounts, extra, host);

  spec.linux.maskedPaths = sc?.maskedPaths.length ? [...sc.maskedPaths] : defaultMaskedPaths();
  spec.linux.readonlyPaths = sc?.readonlyPaths.length ? [...sc.readonlyPaths] : defaultReadonlyPaths();

  applyDevices(spec, config, host);
  applyCapabilities(spec, sc, host);
  if (privileged) makePrivileged(spec, host);
  // Ambient capabilities for non-root users are not defined by Kubernetes: none, like Docker.
  if (spec.process.capabilities !== undefined) {
    const { ambient: _, ...rest } = spec.process.capabilities;
    spec.process.capabilities = rest;
  }
  if (sc?.noNewPrivs) spec.process.noNewPrivileges = true;
  if (readonlyRootfs) spec.root.readonly = true;

  const resources = config.linux?.resources;
  applyResources(spec, resources, host, req.tolerateMissingHugetlbController ?? true);
  const parent = req.cgroupParent ?? sandboxConfig.linux?.cgroupParent ?? "";
  if (parent !== "") spec.linux.cgroupsPath = cgroupsPath(parent, id);
  if (resources !== undefined) setOomScoreAdj(spec, int64(resources.oomScoreAdj, "oom_score_adj"), req, host);

  applyContainerNamespaces(spec, req, hostname);

  spec.annotations = {
    [CriAnnotations.containerType]: CriAnnotations.containerTypeContainer,
    ...sandboxAnnotations(req.sandboxId, sandboxConfig),
    [CriAnnotations.containerName]: config.metadata.name,
    [CriAnnotations.imageName]: req.imageName,
  };

  // The user: the security context's, else the image's; groups from the image's /etc/group.
  const scUser = securityContextUser(sc?.runAsUsername ?? "", sc?.runAsUser, sc?.runAsGroup);
  const user = scUser || (imageConfig.user ?? "");
  const gidsUser =
    sc?.runAsUsername ||
    (sc?.runAsUser !== undefined ? String(sc.runAsUser.value) : (imageConfig.user ?? "").split(":")[0]) ||
    "0";
  resolveUser(spec, user, gidsUser, sc?.supplementalGroups ?? [], req.passwdLookup, req.groupLookup);

  const profile = seccompProfileOf(sc?.seccomp, sc?.seccompProfilePath ?? "", req.unsetSeccompProfile ?? "");
  applySeccomp(spec, profile, privileged, host);
  return spec;
}

function applyContainerNamespaces(spec: Spec, req: ContainerSpecRequest, hostname: string): void {
  const host = req.host ?? nodeHost;
  const sc = req.config.linux?.securityContext;
  const podNs = req.sandboxConfig.linux?.securityContext?.namespaceOptions;
  const ns = sc?.namespaceOptions;
  const either = (kind: "network" | "pid" | "ipc", m: NamespaceMode) =>
    mode(ns, kind) === m || mode(podNs, kind) === m;
  const pid = req.sandboxPid !== undefined && req.sandboxPid > 0 ? req.sandboxPid : undefined;
  const ofSandbox = (kind: string) => (pid === undefined ? undefined : `/proc/${pid}/ns/${kind}`);

  if (either("network", NamespaceMode.NODE)) {
    removeNamespace(spec, "network");
    removeNamespace(spec, "uts");
  } else {
    const netPath = req.netnsPath || ofSandbox("net");
    setNamespace(spec, netPath === undefined ? { type: "network" } : { type: "network", path: netPath });
    const utsPath = ofSandbox("uts");
    setNamespace(spec, utsPath === undefined ? { type: "uts" } : { type: "uts", path: utsPath });
    if (hostname !== "") spec.hostname = hostname;
  }

  if (either("ipc", NamespaceMode.NODE)) removeNamespace(spec, "ipc");
  else {
    const ipcPath = ofSandbox("ipc");
    setNamespace(spec, ipcPath === undefined ? { type: "ipc" } : { type: "ipc", path: ipcPath });
  }

  const pidMode = mode(ns, "pid");
  if (pidMode === NamespaceMode.NODE || mode(podNs, "pid") === NamespaceMode.NODE) {
    removeNamespace(spec, "pid");
  } else if (pidMode === NamespaceMode.CONTAINER) {
    setNamespace(spec, { type: "pid" });
  } else if (pidMode === NamespaceMode.TARGET) {
    if (req.targetPid === undefined || req.targetPid <= 0) {
      throw invalidArgument(
        `pid namespace mode TARGET needs the target container's process: is container ${JSON.stringify(ns?.targetId ?? "")} running?`,
      );
    }
    setNamespace(spec, { type: "pid", path: `/proc/${req.targetPid}/ns/pid` });
  } else {
    const pidPath = ofSandbox("pid");
    setNamespace(spec, pidPath === undefined ? { type: "pid" } : { type: "pid", path: pidPath });
  }

  // A cgroup namespace hides the host's cgroup tree, on v2 only (v1 containers see /sys/fs/cgroup as Docker's do).
  if (host.cgroupV2() && !(sc?.privileged ?? false)) setNamespace(spec, { type: "cgroup" });
}
