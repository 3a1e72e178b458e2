// oom_score_adj requests that the caller is allowed to make.

import { readFileSync } from "node:fs";

/**
 * Without CAP_SYS_RESOURCE a process may not lower a child's oom_score_adj below its own,
 * and runc fails when a spec asks it to: raise the request to the caller's own score, as
 * containerd's restrict_oom_score_adj does. `currentOwn` defaults to /proc/self/oom_score_adj.
 */
export function clampOomScoreAdj(value: number, currentOwn?: number): number {
  const own = currentOwn ?? Number.parseInt(readFileSync("/proc/self/oom_score_adj", "utf8").trim(), 10);
  return value < own ? own : value;
}
