// CNI through its binary protocol: the network config list is the first file of the
// config dir (sorted by name, *.conf, *.conflist or *.json, as libcni picks it); ADD runs
// its plugins in order, each given the previous one's result, DEL runs them in reverse.
// Plugins are executed with CNI_* variables and the plugin's config on stdin.

import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, failedPrecondition } from "@berth/client";
import { execa } from "execa";

export type JsonObject = Record<string, unknown>;

export interface CniConfigList {
  /** The file it came from. */
  file: string;
  name: string;
  cniVersion: string;
  plugins: JsonObject[];
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp" | "sctp";
  hostIP: string;
}

export interface CniAttachment {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs (K8S_POD_NAMESPACE…). */
  args: Record<string, string>;
  /** Capability arguments, passed to plugins that declare the capability. */
  capabilities: { portMappings?: PortMapping[] };
}

export interface CniStatus {
  ready: boolean;
  reason: string;
  message: string;
}

const PLUGIN_TIMEOUT_MS = 120_000;

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses a .conflist, or a single-plugin .conf wrapped into a list. */
export function parseCniConfig(text: string, file: string): CniConfigList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw failedPrecondition(`CNI config ${file} is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw failedPrecondition(`CNI config ${file} is not a JSON object`);
  const name = typeof doc.name === "string" ? doc.name : "";
  const cniVersion = typeof doc.cniVersion === "string" ? doc.cniVersion : "0.4.0";
  if (name === "") throw failedPrecondition(`CNI config ${file} has no name`);
  let plugins: JsonObject[];
  if (Array.isArray(doc.plugins)) {
    if (!doc.plugins.every(isObject)) throw failedPrecondition(`CNI config ${file}: plugins must be objects`);
    plugins = doc.plugins as JsonObject[];
  } else {
    if (file.endsWith(".conflist")) throw failedPrecondition(`CNI config ${file} has no plugins list`);
    plugins = [doc];
  }
  if (plugins.length === 0) throw failedPrecondition(`CNI config ${file} lists no plugins`);
  for (const p of plugins) {
    if (typeof p.type !== "string" || !/^[A-Za-z0-9._-]+$/.test(p.type)) {
      throw failedPrecondition(`CNI config ${file}: a plugin has no valid "type"`);
    }
  }
  return { file, name, cniVersion, plugins };
}

/** The network config the config dir selects, or undefined when it holds none. */
export async function loadCniConfig(confDir: string): Promise<CniConfigList | undefined> {
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch {
    return undefined;
  }
  const candidates = names.filter((n) => /\.(conf|conflist|json)$/.test(n)).sort();
  let lastError: unknown;
  for (const n of candidates) {
    const file = join(confDir, n);
    try {
      return parseCniConfig(await readFile(file, "utf8"), file);
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError !== undefined) throw lastError;
  return undefined;
}

/** The pod's IP addresses on `ifName` in a CNI result (0.3.0 and later, or 0.2.0's ip4/ip6), IPv4 first. */
export function resultIps(result: unknown, ifName: string): string[] {
  if (!isObject(result)) return [];
  const out: string[] = [];
  if (Array.isArray(result.ips)) {
    const interfaces = Array.isArray(result.interfaces) ? result.interfaces : [];
    for (const ip of result.ips) {
      if (!isObject(ip) || typeof ip.address !== "string") continue;
      if (typeof ip.interface === "number") {
        const iface = interfaces[ip.interface];
        if (
          isObject(iface) &&
          (iface.name !== ifName || typeof iface.sandbox !== "string" || iface.sandbox === "")
        )
          continue;
      }
      out.push(ip.address.split("/")[0] ?? "");
    }
  } else {
    for (const key of ["ip4", "ip6"]) {
      const v = result[key];
      if (isObject(v) && typeof v.ip === "string") out.push(v.ip.split("/")[0] ?? "");
    }
  }
  const ips = out.filter((s) => s !== "");
  return [...ips.filter((s) => !s.includes(":")), ...ips.filter((s) => s.includes(":"))];
}

export class CniError extends BerthError {}

export class CniNetwork {
  readonly binDir: string;
  readonly confDir: string;

  constructor(binDir: string, confDir: string) {
    this.binDir = binDir;
    this.confDir = confDir;
  }

  async status(): Promise<CniStatus> {
    try {
      const cfg = await loadCniConfig(this.confDir);
      if (cfg === undefined) {
        return {
          ready: false,
          reason: "NetworkPluginNotReady",
          message: `Network plugin returns error: cni plugin not initialized: no network config found in ${this.confDir}`,
        };
      }
      return { ready: true, reason: "", message: "" };
    } catch (err) {
      return {
        ready: false,
        reason: "NetworkPluginNotReady",
        message: `Network plugin returns error: ${(err as Error).message}`,
      };
    }
  }

  /** The config ADD would use now; FailedPrecondition when there is none. */
  async currentConfig(): Promise<CniConfigList> {
    const cfg = await loadCniConfig(this.confDir);
    if (cfg === undefined) {
      throw failedPrecondition(`cni plugin not initialized: no network config found in ${this.confDir}`);
    }
    return cfg;
  }

  /** Runs ADD through the list; returns the last plugin's result. */
  async add(config: CniConfigList, attachment: CniAttachment): Promise<unknown> {
    let prev: unknown;
    for (const plugin of config.plugins) {
      prev = await this.#exec("ADD", config, plugin, attachment, prev);
    }
    return prev;
  }

  /** Runs DEL through the list in reverse, every plugin even after a failure; throws the first error. */
  async del(config: CniConfigList, attachment: CniAttachment, prevResult: unknown): Promise<void> {
    let first: unknown;
    for (const plugin of [...config.plugins].reverse()) {
      try {
        await this.#exec("DEL", config, plugin, attachment, prevResult);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  async #exec(
    command: "ADD" | "DEL",
    config: CniConfigList,
    plugin: JsonObject,
    a: CniAttachment,
    prevResult: unknown,
  ): Promise<unknown> {
    const type = String(plugin.type);
    const { capabilities: _declared, ...pluginConf } = plugin;
    const conf: JsonObject = { ...pluginConf, name: config.name, cniVersion: config.cniVersion };
    if (prevResult !== undefined && prevResult !== null) conf.prevResult = prevResult;
    const caps = isObject(plugin.capabilities) ? plugin.capabilities : {};
    const runtimeConfig: JsonObject = {};
    for (const [cap, value] of Object.entries(a.capabilities)) {
      if (caps[cap] === true && value !== undefined) runtimeConfig[cap] = value;
    }
    if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
    const args = Object.entries(a.args)
      .map(([k, v]) => `${k}=${v}`)
      .join(";");
    const binary = join(this.binDir, type);
    const r = await execa(binary, [], {
      input: JSON.stringify(conf),
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: a.containerId,
        CNI_NETNS: a.netns,
        CNI_IFNAME: a.ifName,
        CNI_ARGS: args,
        CNI_PATH: this.binDir,
        PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      },
      extendEnv: false,
      reject: false,
      timeout: PLUGIN_TIMEOUT_MS,
    });
    if (r.failed) {
      let detail = r.stderr.trim();
      try {
        const e = JSON.parse(r.stdout) as { msg?: string; details?: string; code?: number };
        if (typeof e.msg === "string") detail = `${e.msg}${e.details ? `: ${e.details}` : ""}`;
      } catch {
        if (detail === "") detail = r.stdout.trim();
      }
      const why =
        r.code === "ENOENT" ? `plugin ${binary} not found` : detail || `exit ${r.exitCode ?? r.signal}`;
      throw new CniError("Unknown", `CNI ${command} of ${config.name} (plugin ${type}) failed: ${why}`);
    }
    if (command === "DEL" || r.stdout.trim() === "") return prevResult;
    try {
      return JSON.parse(r.stdout) as unknown;
    } catch {
      throw new CniError(
        "Unknown",
        `CNI plugin ${type} returned a result that is not JSON: ${r.stdout.slice(0, 200)}`,
      );
    }
  }
}
