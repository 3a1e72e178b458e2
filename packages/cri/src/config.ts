// berth-cri's YAML configuration: every key optional, validated once at start; a bad
// file is one clear error naming the key. The defaults are the design's (docs/berth-cri.md,
// deploy/cri.yaml).
import { type HostsConfig, checkHostsDir, validateHostsConfig } from "@berth/client";
import {
  ConfigError,
  type ConfigShape,
  checkConfigShape,
  checkHostPort,
  loadConfigFile,
  mergeConfig,
} from "@berth/client/daemon";
import { type LogLevel, logLevels } from "@berth/client/log";
import { parse } from "yaml";

/**
 * Which containers share a shim: `per-pod` (containerd's default: a pod's containers),
 * `per-container` (each alone), `pooled` (`poolSize` pods per shim).
 */
export const shimPolicies = ["per-pod", "per-container", "pooled"] as const;
export type ShimPolicy = (typeof shimPolicies)[number];

export interface RuntimeHandler {
  /** The containerd runtime name: io.containerd.<name>.<version>. */
  runtimeType: string;
}

export interface CriConfig {
  /** Persistent files of sandboxes (hostname, hosts, resolv.conf). */
  root: string;
  /** Volatile files: pinned network namespaces, /dev/shm mounts, stdio FIFOs. */
  state: string;
  /** The CRI socket kubelet and crictl talk to. */
  address: string;
  containerd: {
    /** berthd's socket, or a real containerd 1.6's. */
    address: string;
    namespace: string;
    /** Runtime of the default handler ("" in RunPodSandbox): "io.containerd.runc.v2" on a stock containerd. */
    runtime: string;
    /**
     * RuntimeClass handlers (RunPodSandbox's runtimeHandler) and the runtime each names, as
     * containerd's `runtimes` table: a pod and its containers run on its handler's runtime.
     */
    runtimes: Record<string, RuntimeHandler>;
    snapshotter: string;
  };
  streaming: {
    address: string;
    /** Seconds a URL from Exec, Attach or PortForward stays good (kubelet: 60). */
    tokenTtlSeconds: number;
    /** At most this many URLs wait for their client at once (kubelet: 1000). */
    maxWaitingTokens: number;
    /** Seconds without traffic after which a session is closed (kubelet: 4 hours). */
    idleTimeoutSeconds: number;
  };
  cni: {
    binDir: string;
    confDir: string;
    /** A conflist template written to confDir when kubelet sends the pod CIDR ("" = none). */
    confTemplate: string;
  };
  sandboxImage: string;
  /** Registry mirrors and plain-HTTP hosts, or a hosts directory, in @berth/client's hosts config shape. */
  registry: HostsConfig;
  metrics: { address: string };
  logLevel: LogLevel;
  /** Longer lines are split into partial ("P") CRI log entries. */
  maxContainerLogLineSize: number;
  /** How containers are grouped into shims (fewer shims: less memory, larger blast radius). */
  shim: { policy: ShimPolicy; poolSize: number };
}

export const DEFAULT_CONFIG_FILE = "/etc/berth/cri.yaml";

export const defaultCriConfig: CriConfig = {
  root: "/var/lib/berth-cri",
  state: "/run/berth-cri",
  address: "/run/berth/cri.sock",
  containerd: {
    address: "/run/berth/berthd.sock",
    namespace: "k8s.io",
    runtime: "io.containerd.berth.v2",
    // As containerd's default `runc` handler; `berth` names Berth's shim whatever the default.
    runtimes: {
      runc: { runtimeType: "io.containerd.runc.v2" },
      berth: { runtimeType: "io.containerd.berth.v2" },
    },
    snapshotter: "overlayfs",
  },
  streaming: {
    address: "127.0.0.1:0",
    tokenTtlSeconds: 60,
    maxWaitingTokens: 1000,
    idleTimeoutSeconds: 4 * 60 * 60,
  },
  cni: { binDir: "/usr/lib/cni", confDir: "/etc/cni/net.d", confTemplate: "" },
  sandboxImage: "registry.k8s.io/pause:3.6",
  registry: {},
  metrics: { address: "" },
  logLevel: "info",
  maxContainerLogLineSize: 16 * 1024,
  // docs/benchmarks.md, "105 pods through CRI": 16 pods per shim brought Berth's memory
  // below containerd 1.6's, and pods started faster than with a shim per pod.
  shim: { policy: "pooled", poolSize: 16 },
};

const shape: ConfigShape = {
  root: "string",
  state: "string",
  address: "string",
  containerd: {
    address: "string",
    namespace: "string",
    runtime: "string",
    runtimes: "any",
    snapshotter: "string",
  },
  streaming: {
    address: "string",
    tokenTtlSeconds: "number",
    maxWaitingTokens: "number",
    idleTimeoutSeconds: "number",
  },
  cni: { binDir: "string", confDir: "string", confTemplate: "string" },
  sandboxImage: "string",
  registry: "any",
  metrics: { address: "string" },
  logLevel: "string",
  maxContainerLogLineSize: "number",
  shim: { policy: "string", poolSize: "number" },
};

export function parseCriConfig(text: string, source = "config"): CriConfig {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  try {
    checkConfigShape(raw, shape);
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
  const { registry, ...rest } = raw as Record<string, unknown>;
  const runtimes = (rest.containerd as { runtimes?: unknown } | undefined)?.runtimes;
  if (
    runtimes !== undefined &&
    (typeof runtimes !== "object" || runtimes === null || Array.isArray(runtimes))
  ) {
    throw new ConfigError(
      `${source}: containerd.runtimes: expected a map of handler names to { runtimeType }`,
    );
  }
  const cfg = mergeConfig(defaultCriConfig, rest);
  try {
    cfg.registry = validateHostsConfig(registry, "registry");
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
  if (!logLevels.includes(cfg.logLevel)) {
    throw new ConfigError(`${source}: logLevel: must be one of ${logLevels.join(", ")}`);
  }
  for (const [k, v] of [
    ["root", cfg.root],
    ["state", cfg.state],
    ["address", cfg.address],
    ["containerd.address", cfg.containerd.address],
    ["cni.binDir", cfg.cni.binDir],
    ["cni.confDir", cfg.cni.confDir],
  ] as const) {
    if (!v.startsWith("/")) {
      throw new ConfigError(`${source}: ${k}: must be an absolute path, got ${JSON.stringify(v)}`);
    }
  }
  for (const [k, v] of [
    ["containerd.namespace", cfg.containerd.namespace],
    ["containerd.runtime", cfg.containerd.runtime],
    ["containerd.snapshotter", cfg.containerd.snapshotter],
    ["sandboxImage", cfg.sandboxImage],
  ] as const) {
    if (v === "") throw new ConfigError(`${source}: ${k}: must not be empty`);
  }
  checkHostPort(cfg.streaming.address, "streaming.address", source);
  for (const [k, v] of [
    ["streaming.tokenTtlSeconds", cfg.streaming.tokenTtlSeconds],
    ["streaming.maxWaitingTokens", cfg.streaming.maxWaitingTokens],
    ["streaming.idleTimeoutSeconds", cfg.streaming.idleTimeoutSeconds],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new ConfigError(`${source}: ${k}: expected a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  checkHostPort(cfg.metrics.address, "metrics.address", source, true);
  if (!Number.isInteger(cfg.maxContainerLogLineSize) || cfg.maxContainerLogLineSize < 0) {
    throw new ConfigError(`${source}: maxContainerLogLineSize: expected a non-negative integer`);
  }
  cfg.containerd.runtimes = validateRuntimes(cfg.containerd.runtimes, source);
  if (!shimPolicies.includes(cfg.shim.policy)) {
    throw new ConfigError(
      `${source}: shim.policy: must be one of ${shimPolicies.join(", ")}, got ${JSON.stringify(cfg.shim.policy)}`,
    );
  }
  if (!Number.isInteger(cfg.shim.poolSize) || cfg.shim.poolSize < 1) {
    throw new ConfigError(
      `${source}: shim.poolSize: expected a positive integer, got ${JSON.stringify(cfg.shim.poolSize)}`,
    );
  }
  return cfg;
}

const runtimeName = /^io\.containerd\.[a-z0-9_-]+(\.[a-z0-9_-]+)+$/;

function validateRuntimes(value: unknown, source: string): Record<string, RuntimeHandler> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(
      `${source}: containerd.runtimes: expected a map of handler names to { runtimeType }`,
    );
  }
  const out: Record<string, RuntimeHandler> = {};
  for (const [handler, entry] of Object.entries(value)) {
    const where = `${source}: containerd.runtimes.${handler}`;
    if (handler === "") throw new ConfigError(`${where}: the default handler is containerd.runtime`);
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new ConfigError(`${where}: expected { runtimeType: io.containerd.<name>.<version> }`);
    }
    const { runtimeType, ...rest } = entry as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new ConfigError(`${where}: unknown key ${unknown.join(", ")}`);
    if (typeof runtimeType !== "string" || !runtimeName.test(runtimeType)) {
      throw new ConfigError(
        `${where}.runtimeType: expected a runtime name such as io.containerd.runc.v2, got ${JSON.stringify(runtimeType)}`,
      );
    }
    out[handler] = { runtimeType };
  }
  return out;
}

/** The runtime a RuntimeClass handler names; undefined for a handler the config lacks. */
export function runtimeOf(config: CriConfig, handler: string): string | undefined {
  if (handler === "") return config.containerd.runtime;
  return Object.hasOwn(config.containerd.runtimes, handler)
    ? config.containerd.runtimes[handler]?.runtimeType
    : undefined;
}

/**
 * Reads the config file (a missing default file means all defaults), and checks the
 * hosts directory `registry.configPath` names, so a broken hosts.toml stops the start.
 */
export async function loadCriConfig(path: string | undefined): Promise<CriConfig> {
  const cfg = await loadConfigFile(path, DEFAULT_CONFIG_FILE, parseCriConfig);
  if (cfg.registry.configPath !== undefined) {
    try {
      await checkHostsDir(cfg.registry.configPath);
    } catch (err) {
      throw new ConfigError(`registry.configPath: ${(err as Error).message}`);
    }
  }
  return cfg;
}

export { ConfigError };
