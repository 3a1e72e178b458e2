import { readFile, readdir } from "node:fs/promises";
import { spawnedPids } from "./command.js";
import { type ChildExit, reapPid } from "./sys.js";

// Exits of the processes the shim watches. The shim is a child subreaper, so container
// inits and exec'd processes become its children once runc exits. libuv reaps the
// children Node spawned itself, so this never calls waitpid(-1): on SIGCHLD it asks
// waitid() about each watched pid, and sweeps other zombies (orphans of a container
// without its own pid namespace) only when no runc create/exec could be about to hand
// it a new pid.

export type ExitHandler = (exit: ChildExit) => void;

export class Reaper {
  readonly #watched = new Map<number, ExitHandler>();
  #pending = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  #started = false;
  readonly #onSignal = () => this.check();

  start(): void {
    if (this.#started) return;
    this.#started = true;
    process.on("SIGCHLD", this.#onSignal);
  }

  stop(): void {
    process.off("SIGCHLD", this.#onSignal);
    clearTimeout(this.#sweepTimer);
    this.#started = false;
  }

  /** Calls `onExit` once `pid` exits (at once if it already has). */
  watch(pid: number, onExit: ExitHandler): void {
    this.#watched.set(pid, onExit);
    this.#checkOne(pid);
  }

  unwatch(pid: number): void {
    this.#watched.delete(pid);
  }

  /**
   * Runs `fn` (a runc create or exec) with the zombie sweep held off, so a process that
   * exits before its pid file is read stays a zombie until it is watched.
   */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    this.#pending++;
    try {
      return await fn();
    } finally {
      this.#pending--;
    }
  }

  check(): void {
    for (const pid of [...this.#watched.keys()]) this.#checkOne(pid);
    this.#scheduleSweep();
  }

  #checkOne(pid: number): void {
    const handler = this.#watched.get(pid);
    if (handler === undefined) return;
    let exit: ChildExit | undefined;
    try {
      exit = reapPid(pid);
    } catch {
      return;
    }
    if (exit === undefined) return;
    this.#watched.delete(pid);
    handler(exit);
  }

  #scheduleSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    this.#sweepTimer = setTimeout(() => {
      this.#sweepTimer = undefined;
      if (this.#pending > 0) {
        this.#scheduleSweep();
        return;
      }
      void this.#sweep();
    }, 200);
    this.#sweepTimer.unref();
  }

  async #sweep(): Promise<void> {
    for (const pid of await zombieChildren(process.pid)) {
      if (this.#pending > 0) return;
      if (this.#watched.has(pid) || spawnedPids.has(pid)) continue;
      try {
        reapPid(pid);
      } catch {
        // raced with another reaper
      }
    }
  }
}

/** Zombie children of `parent`, from /proc/<pid>/stat (the kernel here lacks /proc/.../children). */
export async function zombieChildren(parent: number): Promise<number[]> {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const parsed = await readStat(Number(entry));
    if (parsed !== undefined && parsed.state === "Z" && parsed.ppid === parent) found.push(Number(entry));
  }
  return found;
}

export interface ProcStat {
  state: string;
  ppid: number;
  /** Clock ticks after boot: with the pid, it names one process (pids are reused). */
  startTime: number;
  /** A zombie's wait status (0 for a live process; field 52, Linux 3.5+). */
  exitCode: number;
}

/** Fields of /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parseStat(stat: string): ProcStat | undefined {
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  // fields[0] is field 3 of proc(5).
  const fields = stat
    .slice(close + 2)
    .trim()
    .split(" ");
  const state = fields[0];
  const ppid = Number(fields[1]);
  if (state === undefined || !Number.isInteger(ppid)) return undefined;
  return { state, ppid, startTime: Number(fields[19] ?? 0), exitCode: Number(fields[49] ?? 0) };
}

/** /proc/<pid>/stat, or undefined once the process is gone (reaped). */
export async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** A wait status as a shell reports it: the exit code, or 128 + the signal. */
export function exitStatusOf(waitStatus: number): number {
  const signal = waitStatus & 0x7f;
  return signal === 0 ? (waitStatus >> 8) & 0xff : 128 + signal;
}

/**
 * The exit code reported for a process whose exit no shim saw: it ended while no shim was
 * there, or after one adopted it, being no child of ours (its parent went with the shim
 * that started it; init reaped it). containerd's CRI uses the same code for lost exits.
 */
export const UNKNOWN_EXIT_STATUS = 255;

/**
 * How such an exit is reported: pid 0 in TaskExit says the status was not seen (berth-cri
 * then gives the reason `Unknown`); a process the shim saw exit always has its pid.
 */
export const UNKNOWN_EXIT: ChildExit = { pid: 0, status: UNKNOWN_EXIT_STATUS };

/**
 * Watches processes that are not our children (adopted containers): their exit cannot be
 * waited for, so /proc is read every `intervalMs`. A process is gone when /proc has no
 * such pid or has another process under it (a different start time); a zombie still
 * awaiting its reaper gives its real status, anything else is UNKNOWN_EXIT_STATUS.
 */
export class ForeignWatch {
  readonly #watched = new Map<number, { startTime: number; onExit: ExitHandler }>();
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(intervalMs = 250) {
    this.#intervalMs = intervalMs;
  }

  watch(pid: number, startTime: number, onExit: ExitHandler): void {
    this.#watched.set(pid, { startTime, onExit });
    this.#timer ??= setInterval(() => void this.check(), this.#intervalMs);
    void this.check();
  }

  unwatch(pid: number): void {
    this.#watched.delete(pid);
    if (this.#watched.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      for (const [pid, w] of [...this.#watched]) {
        const stat = await readStat(pid);
        let exit: ChildExit | undefined;
        if (stat === undefined || stat.startTime !== w.startTime) exit = UNKNOWN_EXIT;
        else if (stat.state === "Z" || stat.state === "X")
          exit = { pid, status: exitStatusOf(stat.exitCode) };
        if (exit === undefined || this.#watched.get(pid) !== w) continue;
        this.unwatch(pid);
        w.onExit(exit);
      }
    } finally {
      this.#checking = false;
    }
  }
}
