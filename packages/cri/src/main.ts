#!/usr/bin/env node
// berth-cri: parses flags and config, then runs the CRI daemon library until SIGINT/SIGTERM.
import { parseArgs } from "node:util";
import { type LogLevel, createLogger, logLevels } from "@berth/client/log";
import { ConfigError, loadCriConfig } from "./config.js";
import { startBerthCri } from "./server.js";

const usage = "usage: berth-cri [--config FILE] [--log-level error|warn|info|debug|trace]";

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
    process.stderr.write(`berth-cri: ${(err as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const config = await loadCriConfig(values.config);
  const level = values["log-level"] ?? config.logLevel;
  if (!logLevels.includes(level as LogLevel)) {
    throw new ConfigError(`--log-level: must be one of ${logLevels.join(", ")}`);
  }
  const log = createLogger(level as LogLevel, { daemon: "berth-cri" });
  const daemon = await startBerthCri(config, log);
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
    `${JSON.stringify({ level: "error", message: msg, daemon: "berth-cri", timestamp: new Date().toISOString() })}\n`,
  );
  process.exit(1);
});
