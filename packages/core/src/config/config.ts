// berthd's YAML configuration: every key optional, validated once at start; a bad file
// is one clear error naming the key.
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

export interface BerthdConfig {
  root: string;
  state: string;
  grpc: { address: string };
  /** ttrpc socket for shims: `<grpc.address>.ttrpc` unless set. */
  ttrpc: { address: string };
  metrics: { address: string };
  logLevel: LogLevel;
  gc: { scheduleDelayMs: number };
}

export const defaultBerthdConfig: BerthdConfig = {
  root: "/var/lib/berth",
  state: "/run/berth",
  grpc: { address: "/run/berth/berthd.sock" },
  ttrpc: { address: "" },
  metrics: { address: "" },
  logLevel: "info",
  gc: { scheduleDelayMs: 100 },
};

const shape: ConfigShape = {
  root: "string",
  state: "string",
  grpc: { address: "string" },
  ttrpc: { address: "string" },
  metrics: { address: "string" },
  logLevel: "string",
  gc: { scheduleDelayMs: "number" },
};

export function parseBerthdConfig(text: string, source = "config"): BerthdConfig {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (typeof raw === "object" && raw !== null && "defaultSnapshotter" in raw) {
    throw new ConfigError(
      `${source}: defaultSnapshotter: no longer a berthd key (clients name their snapshotter, as with containerd): remove it`,
    );
  }
  try {
    checkConfigShape(raw, shape);
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
  const cfg = mergeConfig(defaultBerthdConfig, raw);
  if (!logLevels.includes(cfg.logLevel))
    throw new ConfigError(`${source}: logLevel: must be one of ${logLevels.join(", ")}`);
  for (const [k, v] of [
    ["root", cfg.root],
    ["state", cfg.state],
    ["grpc.address", cfg.grpc.address],
  ] as const) {
    if (!v.startsWith("/"))
      throw new ConfigError(`${source}: ${k}: must be an absolute path, got ${JSON.stringify(v)}`);
  }
  if (cfg.ttrpc.address === "") cfg.ttrpc.address = `${cfg.grpc.address}.ttrpc`;
  checkHostPort(cfg.metrics.address, "metrics.address", source, true);
  if (!Number.isInteger(cfg.gc.scheduleDelayMs) || cfg.gc.scheduleDelayMs < 0) {
    throw new ConfigError(`${source}: gc.scheduleDelayMs: expected a non-negative integer (milliseconds)`);
  }
  return cfg;
}

export function loadBerthdConfig(path: string | undefined): Promise<BerthdConfig> {
  return loadConfigFile(path, "/etc/berth/berthd.yaml", parseBerthdConfig);
}

export { ConfigError };
