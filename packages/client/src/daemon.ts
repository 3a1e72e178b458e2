// What berthd and berth-cri share as programs: their YAML config files checked against a
// shape (unknown keys and wrong types named by their path) and merged over the defaults,
// and a main that parses --config/--log-level, logs JSON lines, stops on SIGINT/SIGTERM
// and reports a failed start as one JSON line. Imported as @berth/client/daemon.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { versionLine } from "./build-info.js";
import { type LogLevel, type Logger, createLogger, logLevels } from "./log.js";
import { setProcessTitle } from "./process-title.js";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** A config file's expected keys: a leaf type, or a nested mapping. "any" is checked elsewhere. */
/** `host:port` or `[v6]:port`: a TCP listen address as both daemons' configs take it. */
const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[^:[\]]+):\d{1,5}$/;

/** Throws a ConfigError naming `key` unless `value` is a host:port address (or "" when `optional`). */
export function checkHostPort(value: string, key: string, source: string, optional = false): void {
  if (optional && value === "") return;
  if (!HOST_PORT.test(value) || Number(value.slice(value.lastIndexOf(":") + 1)) > 65535) {
    throw new ConfigError(`${source}: ${key}: expected host:port or [v6]:port, got ${JSON.stringify(value)}`);
  }
}

export type ConfigShape = { [key: string]: "string" | "number" | "any" | ConfigShape };

/** Throws a ConfigError naming the first key that is unknown or of the wrong type. */
export function checkConfigShape(value: unknown, shape: ConfigShape, path = ""): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${path || "config"}: expected a mapping`);
  }
  for (const [k, v] of Object.entries(value)) {
    const key = path ? `${path}.${k}` : k;
    const want = shape[k];
    if (want === undefined)
      throw new ConfigError(`${key}: unknown key (known: ${Object.keys(shape).join(", ")})`);
    if (typeof want === "object") checkConfigShape(v, want, key);
    else if ((want === "string" && typeof v !== "string") || (want === "number" && typeof v !== "number"))
      throw new ConfigError(`${key}: expected a ${want}, got ${JSON.stringify(v)}`);
  }
}

/** `over` merged into `base`, mappings key by key, anything else replaced. */
export function mergeConfig<T>(base: T, over: unknown): T {
  if (typeof over !== "object" || over === null) return base;
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      typeof b === "object" && b !== null && typeof v === "object" && v !== null ? mergeConfig(b, v) : v;
  }
  return out as T;
}

/**
 * Reads and parses a config file; when no path was given and the default file is
 * missing, every key takes its default (the empty file is parsed).
 */
export async function loadConfigFile<C>(
  path: string | undefined,
  defaultPath: string,
  parse: (text: string, source: string) => C,
): Promise<C> {
  const file = path ?? defaultPath;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && path === undefined) return parse("", file);
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parse(text, file);
}

export interface DaemonProgram<C extends { logLevel: string }> {
  /** The program's name, in its usage line and its log lines. */
  name: string;
  /** Reads the config file (undefined: the default path). */
  loadConfig(path: string | undefined): Promise<C>;
  /** Every key with its default, for `config default`. */
  defaults: C;
  start(config: C, log: Logger): Promise<{ stop(): Promise<void> }>;
}

/** A daemon's main: runs it until SIGINT or SIGTERM, then stops it. */
export function runDaemon<C extends { logLevel: string }>(program: DaemonProgram<C>): void {
  const { name } = program;
  const usage = [
    `usage: ${name} [--config FILE] [--log-level ${logLevels.join("|")}] [--version]`,
    `       ${name} config default            print every key with its default (YAML)`,
    `       ${name} config dump [--config FILE]  print the configuration the daemon would run with`,
  ].join("\n");
  // ps shows "berthd --config …" rather than node and the script; pgrep -x finds "berthd".
  setProcessTitle(name, process.argv.slice(2));
  const main = async () => {
    let values: { config?: string; "log-level"?: string; help?: boolean; version?: boolean };
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        options: {
          config: { type: "string", short: "c" },
          "log-level": { type: "string", short: "l" },
          help: { type: "boolean", short: "h" },
          version: { type: "boolean", short: "v" },
        },
        allowPositionals: true,
      }));
    } catch (err) {
      process.stderr.write(`${name}: ${(err as Error).message}\n${usage}\n`);
      process.exit(2);
    }
    if (positionals.length > 0) {
      const [command, sub, ...extra] = positionals;
      if (command !== "config" || (sub !== "default" && sub !== "dump") || extra.length > 0) {
        process.stderr.write(`${name}: unknown command "${positionals.join(" ")}"\n${usage}\n`);
        process.exit(2);
      }
      const config = sub === "default" ? program.defaults : await program.loadConfig(values.config);
      process.stdout.write(stringify(config));
      return;
    }
    if (values.help) {
      process.stdout.write(`${usage}\n`);
      return;
    }
    if (values.version) {
      process.stdout.write(versionLine(name));
      return;
    }
    const config = await program.loadConfig(values.config);
    const level = values["log-level"] ?? config.logLevel;
    if (!logLevels.includes(level as LogLevel)) {
      throw new ConfigError(`--log-level: must be one of ${logLevels.join(", ")}`);
    }
    const log = createLogger(level as LogLevel, { daemon: name });
    const daemon = await program.start(config, log);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info("shutting down", { signal });
      daemon.stop().then(
        () => process.exit(0),
        (err) => {
          log.error("shutdown failed", { error: String(err) });
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  };
  main().catch((err) => {
    const msg =
      err instanceof ConfigError
        ? err.message
        : `cannot start: ${err instanceof Error ? err.message : String(err)}`;
    process.stderr.write(
      `${JSON.stringify({ level: "error", message: msg, daemon: name, timestamp: new Date().toISOString() })}\n`,
    );
    process.exit(1);
  });
}
