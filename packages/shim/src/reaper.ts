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
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const parsed = parseStat(stat);
    if (parsed !== undefined && parsed.state === "Z" && parsed.ppid === parent) found.push(Number(entry));
  }
  return found;
}

/** State and parent pid from /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parseStat(stat: string): { state: string; ppid: number } | undefined {
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = stat.slice(close + 2).split(" ");
  const state = fields[0];
  const ppid = Number(fields[1]);
  if (state === undefined || !Number.isInteger(ppid)) return undefined;
  return { state, ppid };
}
