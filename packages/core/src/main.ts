#!/usr/bin/env node
// berthd: parses flags and config, then runs the daemon library until SIGINT/SIGTERM.
import { parseArgs } from "node:util";
import { type LogLevel, createLogger, logLevels } from "@berth/client/log";
import { ConfigError, loadBerthdConfig } from "./config/config.js";
import { startBerthd } from "./server/berthd.js";

const usage = "usage: berthd [--config FILE] [--log-level error|warn|info|debug|trace]";

async function main(): Promise<void> {
  let values: { config?: string; "log-level"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: "string", short: "c" },
        "log-level": { type: "string", short: "l" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`berthd: ${(err as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const config = await loadBerthdConfig(values.config);
  const level = values["log-level"] ?? config.logLevel;
  if (!logLevels.includes(level as LogLevel))
    throw new ConfigError(`--log-level: must be one of ${logLevels.join(", ")}`);
  const log = createLogger(level as LogLevel, { daemon: "berthd" });
  const daemon = await startBerthd(config, log);
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
}

main().catch((err) => {
  const msg =
    err instanceof ConfigError
      ? err.message
      : `cannot start: ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(
    `${JSON.stringify({ level: "error", message: msg, daemon: "berthd", timestamp: new Date().toISOString() })}\n`,
  );
  process.exit(1);
});
