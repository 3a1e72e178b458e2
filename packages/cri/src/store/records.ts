// What berth-cri records about sandboxes and containers, and how it is kept in the
// daemon: as JSON extensions of the containerd container records (the pause container for
// a sandbox), so that a restarted berth-cri rebuilds everything from the daemon alone.

import type { Container as ContainerdContainer } from "@berth/api/containerd/services/containers/v1/containers";
import { ContainerConfig, LinuxContainerResources, PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import type { Any } from "@berth/api/google/protobuf/any";
import type { CniConfigList, PortMapping } from "../network/cni.js";

/** containerd's CRI label telling sandboxes from containers; tools such as nerdctl read it. */
export const KIND_LABEL = "io.cri-containerd.kind";
export const KIND_SANDBOX = "sandbox";
export const KIND_CONTAINER = "container";

export const SANDBOX_METADATA_EXT = "io.berth.cri.sandbox.metadata";
export const CONTAINER_METADATA_EXT = "io.berth.cri.container.metadata";
export const CONTAINER_STATUS_EXT = "io.berth.cri.container.status";

const TYPE_URL_PREFIX = "types.berth.dev/cri/";

export interface SandboxNetwork {
  /** The conflist ADD ran with, so DEL runs the same plugins after a config change. */
  config: CniConfigList;
  result: unknown;
  portMappings: PortMapping[];
}

export interface SandboxMetadata {
  id: string;
  /** Unique name: `<name>_<namespace>_<uid>_<attempt>`. */
  name: string;
  config: PodSandboxConfig;
  runtimeHandler: string;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
  /** The pinned network namespace; "" for host-network pods. */
  netnsPath: string;
  ip: string;
  additionalIps: string[];
  network: SandboxNetwork | undefined;
  /** Files bound into the pod's containers. */
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
  shmPath: string;
  /** The sandbox image's ID. */
  imageId: string;
}

export interface ContainerMetadata {
  id: string;
  /** Unique name: `<container>_<pod>_<namespace>_<uid>_<attempt>`. */
  name: string;
  sandboxId: string;
  config: ContainerConfig;
  /** The image's ID (config digest). */
  imageRef: string;
  /** The image as the request named it, resolved to a record name when possible. */
  imageName: string;
  /** `<log_directory>/<log_path>`; "" when kubelet asked for none. */
  logPath: string;
  createdAt: bigint;
  /** Signal StopContainer sends first (from the image's StopSignal). */
  stopSignal: string;
  snapshotKey: string;
}

export interface ContainerStatusRecord {
  pid: number;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  /** "" until known: Completed, Error, OOMKilled… are derived or set on exit. */
  reason: string;
  message: string;
  /** A TaskOOM event was seen for this container. */
  oomKilled: boolean;
  /** Resources as last updated (UpdateContainerResources). */
  resources: LinuxContainerResources | undefined;
}

export function emptyStatus(): ContainerStatusRecord {
  return {
    pid: 0,
    startedAt: 0n,
    finishedAt: 0n,
    exitCode: 0,
    reason: "",
    message: "",
    oomKilled: false,
    resources: undefined,
  };
}

function jsonAny(type: string, value: unknown): Any {
  return {
    typeUrl: TYPE_URL_PREFIX + type,
    value: Buffer.from(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v))),
  };
}

function parseAny(any: Any | undefined, type: string): Record<string, unknown> | undefined {
  if (any === undefined || any.typeUrl !== TYPE_URL_PREFIX + type) return undefined;
  try {
    const v = JSON.parse(Buffer.from(any.value).toString("utf8")) as unknown;
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const big = (v: unknown): bigint => {
  try {
    return typeof v === "string" || typeof v === "number" ? BigInt(v) : 0n;
  } catch {
    return 0n;
  }
};
const str = (v: unknown): string => (typeof v === "string" ? v : "");

export function encodeSandboxMetadata(m: SandboxMetadata): Any {
  return jsonAny("SandboxMetadata", { ...m, config: PodSandboxConfig.toJSON(m.config) });
}

export function decodeSandboxMetadata(c: ContainerdContainer): SandboxMetadata | undefined {
  const v = parseAny(c.extensions[SANDBOX_METADATA_EXT], "SandboxMetadata");
  if (v === undefined) return undefined;
  return {
    id: str(v.id) || c.id,
    name: str(v.name),
    config: PodSandboxConfig.fromJSON(v.config ?? {}),
    runtimeHandler: str(v.runtimeHandler),
    createdAt: big(v.createdAt),
    netnsPath: str(v.netnsPath),
    ip: str(v.ip),
    additionalIps: Array.isArray(v.additionalIps) ? v.additionalIps.filter((s) => typeof s === "string") : [],
    network: (v.network as SandboxNetwork | undefined) ?? undefined,
    hostnamePath: str(v.hostnamePath),
    hostsPath: str(v.hostsPath),
    resolvConfPath: str(v.resolvConfPath),
    shmPath: str(v.shmPath),
    imageId: str(v.imageId),
  };
}

export function encodeContainerMetadata(m: ContainerMetadata): Any {
  return jsonAny("ContainerMetadata", { ...m, config: ContainerConfig.toJSON(m.config) });
}

export function decodeContainerMetadata(c: ContainerdContainer): ContainerMetadata | undefined {
  const v = parseAny(c.extensions[CONTAINER_METADATA_EXT], "ContainerMetadata");
  if (v === undefined) return undefined;
  return {
    id: str(v.id) || c.id,
    name: str(v.name),
    sandboxId: str(v.sandboxId),
    config: ContainerConfig.fromJSON(v.config ?? {}),
    imageRef: str(v.imageRef),
    imageName: str(v.imageName),
    logPath: str(v.logPath),
    createdAt: big(v.createdAt),
    stopSignal: str(v.stopSignal),
    snapshotKey: str(v.snapshotKey) || c.snapshotKey,
  };
}

export function encodeContainerStatus(s: ContainerStatusRecord): Any {
  return jsonAny("ContainerStatus", {
    ...s,
    resources: s.resources === undefined ? undefined : LinuxContainerResources.toJSON(s.resources),
  });
}

export function decodeContainerStatus(c: ContainerdContainer): ContainerStatusRecord {
  const v = parseAny(c.extensions[CONTAINER_STATUS_EXT], "ContainerStatus");
  if (v === undefined) return emptyStatus();
  return {
    pid: typeof v.pid === "number" ? v.pid : 0,
    startedAt: big(v.startedAt),
    finishedAt: big(v.finishedAt),
    exitCode: typeof v.exitCode === "number" ? v.exitCode : 0,
    reason: str(v.reason),
    message: str(v.message),
    oomKilled: v.oomKilled === true,
    resources: v.resources === undefined ? undefined : LinuxContainerResources.fromJSON(v.resources),
  };
}

/** Nanoseconds since the epoch, now. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
