// JSON-lines logging with levels (winston) to stderr, one logger per daemon (berthd, berth-cri)
// with child loggers per subsystem. Imported as @berth/client/log, not from the index, so
// that clients which do not log never load winston.
import winston from "winston";

export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";
export const logLevels: readonly LogLevel[] = ["error", "warn", "info", "debug", "trace"];

export interface Logger {
  error(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  debug(msg: string, meta?: Record<string, unknown>): void;
  child(meta: Record<string, unknown>): Logger;
}

export function createLogger(level: LogLevel, meta: Record<string, unknown> = {}): Logger {
  const w = winston.createLogger({
    level: level === "trace" ? "silly" : level,
    defaultMeta: meta,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream: process.stderr })],
  });
  return wrap(w);
}

function wrap(w: winston.Logger): Logger {
  return {
    error: (msg, meta) => void w.error(msg, meta),
    warn: (msg, meta) => void w.warn(msg, meta),
    info: (msg, meta) => void w.info(msg, meta),
    debug: (msg, meta) => void w.debug(msg, meta),
    child: (meta) => wrap(w.child(meta)),
  };
}

/** A logger that drops everything, for tests. */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child: () => silentLogger,
};
