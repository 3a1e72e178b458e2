// berthd's YAML configuration: every key optional, validated once at start; a bad file
// is one clear error naming the key.
import { readFile } from "node:fs/promises";
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
  /** Snapshotter used when a client names none. */
  defaultSnapshotter: string;
  gc: { scheduleDelayMs: number };
}

export const defaultBerthdConfig: BerthdConfig = {
  root: "/var/lib/berth",
  state: "/run/berth",
  grpc: { address: "/run/berth/berthd.sock" },
  ttrpc: { address: "" },
  metrics: { address: "" },
  logLevel: "info",
  defaultSnapshotter: "overlayfs",
  gc: { scheduleDelayMs: 100 },
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Shape = { [k: string]: "string" | "number" | Shape };
const shape: Shape = {
  root: "string",
  state: "string",
  grpc: { address: "string" },
  ttrpc: { address: "string" },
  metrics: { address: "string" },
  logLevel: "string",
  defaultSnapshotter: "string",
  gc: { scheduleDelayMs: "number" },
};

function check(value: unknown, s: Shape, path: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${path || "config"}: expected a mapping`);
  }
  for (const [k, v] of Object.entries(value)) {
    const key = path ? `${path}.${k}` : k;
    const want = s[k];
    if (want === undefined)
      throw new ConfigError(`${key}: unknown key (known: ${Object.keys(s).join(", ")})`);
    if (typeof want === "object") check(v, want, key);
    else if ((want === "string" && typeof v !== "string") || (want === "number" && typeof v !== "number"))
      throw new ConfigError(`${key}: expected a ${want}, got ${JSON.stringify(v)}`);
  }
}

function merge<T>(base: T, over: unknown): T {
  if (typeof over !== "object" || over === null) return base;
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = typeof b === "object" && b !== null && typeof v === "object" && v !== null ? merge(b, v) : v;
  }
  return out as T;
}

export function parseBerthdConfig(text: string, source = "config"): BerthdConfig {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  try {
    check(raw, shape, "");
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
  const cfg = merge(defaultBerthdConfig, raw);
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
  if (cfg.metrics.address !== "" && !/^[^:]+:\d+$/.test(cfg.metrics.address)) {
    throw new ConfigError(
      `${source}: metrics.address: expected host:port, got ${JSON.stringify(cfg.metrics.address)}`,
    );
  }
  return cfg;
}

export async function loadBerthdConfig(path: string | undefined): Promise<BerthdConfig> {
  const file = path ?? "/etc/berth/berthd.yaml";
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && path === undefined)
      return parseBerthdConfig("", file);
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parseBerthdConfig(text, file);
}
