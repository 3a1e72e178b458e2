// Process measurements for benchmarks: PSS from /proc/PID/smaps_rollup, CPU time from
// /proc/PID/stat, and the shims serving a daemon's socket.
import { readFileSync, readdirSync } from "node:fs";
import { argvOfSync } from "../fixtures/proc.js";

export function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of a process (its own, not its reaped children's). */
export function cpuSeconds(pid: number): number {
  return statTicks(pid, 11) / 100;
}

/** User + system CPU seconds of the children a process has reaped (runc, an exec's process). */
export function reapedChildrenCpuSeconds(pid: number): number {
  return statTicks(pid, 13) / 100;
}

/** Fields `first` and `first + 1` of /proc/PID/stat, counted after the command name; 0 once gone. */
function statTicks(pid: number, first: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[first]) + Number(fields[first + 1]);
  } catch {
    return 0;
  }
}

/** Pids of shim processes started for the daemon listening on `address`. */
export function shimPids(address: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = argvOfSync(name);
      const isShim =
        cmd.some((a) => a.includes("containerd-shim")) || cmd.some((a) => a.endsWith("shim/dist/main.js"));
      if (isShim && cmd.includes(address)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}
