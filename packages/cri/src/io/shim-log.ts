// The CRI log written by Berth's shim (containerd-shim-berth-v2) itself: berth-cri names
// the file as the task's stdout and stderr, `cri-log:///<path>?max-line-size=<n>`, and the
// shim reads the container's pipes and writes `<RFC3339Nano> <stream> <F|P> <line>` for as
// long as the process lives, whether berth-cri is there or not. Rotation: an Update of the
// task with the annotation below and no resources makes the shim reopen the file.
//
// Only Berth's shim knows the scheme (runc's shim rejects it as unknown): with any other
// runtime berth-cri keeps the FIFOs and writes the log itself (fifo.ts, cri-log.ts).

import { pathToFileURL } from "node:url";

/** The runtime whose shim writes CRI logs. */
export const SHIM_LOG_RUNTIME = "io.containerd.berth.v2";
export const CRI_LOG_SCHEME = "cri-log";
/** Update annotation that makes Berth's shim reopen a task's CRI log. */
export const REOPEN_LOG_ANNOTATION = "io.berth.cri.reopen-log";

/** True when tasks of `runtime` can write their CRI log themselves. */
export function shimWritesLog(runtime: string | undefined): boolean {
  return runtime === SHIM_LOG_RUNTIME;
}

/** `cri-log:///<path, percent-encoded>?max-line-size=<maxLine>` */
export function criLogUri(path: string, maxLine: number): string {
  const url = pathToFileURL(path).href.slice("file:".length);
  return `${CRI_LOG_SCHEME}:${url}?max-line-size=${maxLine}`;
}

export function isCriLogUri(uri: string): boolean {
  return uri.startsWith(`${CRI_LOG_SCHEME}://`);
}
