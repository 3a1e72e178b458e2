import { constants, closeSync, openSync, writeSync } from "node:fs";

// The shim's log: text lines into the `log` FIFO that containerd creates in the bundle and
// copies to its own output. Writes never block; lines are dropped when nobody reads.

let fd: number | undefined;
let debugEnabled = false;

export function openLog(path: string, debug: boolean): void {
  debugEnabled = debug;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    fd = undefined; // no reader (started by hand): stay quiet
  }
}

function write(level: string, message: string): void {
  if (fd === undefined) return;
  const line = `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(message)} runtime=io.containerd.berth.v2 pid=${process.pid}\n`;
  try {
    writeSync(fd, line);
  } catch {
    // EAGAIN (reader slow) or EPIPE (daemon gone): drop the line
  }
}

export const log = {
  debug(message: string): void {
    if (debugEnabled) write("debug", message);
  },
  info(message: string): void {
    write("info", message);
  },
  warn(message: string): void {
    write("warning", message);
  },
  error(message: string): void {
    write("error", message);
  },
};

export function closeLog(): void {
  if (fd !== undefined) closeSync(fd);
  fd = undefined;
}
