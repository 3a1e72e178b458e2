import { failedPrecondition } from "./errors.js";
import type { StdioPaths } from "./stdio.js";

// A process the shim runs for a container: the init process (the container itself) or an
// exec'd one. It holds the lifecycle state, the exit, and the copy of its stdio.

export type ProcessState = "created" | "running" | "paused" | "stopped" | "deleted";

/** What copies a process's stdio (pipes or a pty). */
export interface StdioCopy {
  closeStdin(): void;
  /** Resolves when output has been copied out, or after `timeoutMs`. */
  done(timeoutMs: number): Promise<void>;
  close(): void;
  resize?(width: number, height: number): void;
  /** For a `cri-log://` destination: go on in a new file at the same path. */
  reopenLog?(): Promise<void>;
  /** The process has exited (a pty's output may still be on its way). */
  processExited?(): void;
}

export class ShimProcess {
  readonly id: string;
  readonly stdio: StdioPaths;
  readonly isInit: boolean;
  pid = 0;
  state: ProcessState = "created";
  /** Set while runc pause runs, reported as PAUSING. */
  pausing = false;
  exitStatus = 0;
  exitedAt: Date | undefined;
  io: StdioCopy | undefined;
  /**
   * Settles when the call that is creating or starting this process has published its
   * event; exits wait for it, so /tasks/exit never overtakes /tasks/start.
   */
  gate: Promise<void> = Promise.resolve();
  readonly #exited: Promise<void>;
  #resolveExit!: () => void;

  constructor(id: string, stdio: StdioPaths, isInit: boolean) {
    this.id = id;
    this.stdio = stdio;
    this.isInit = isInit;
    this.#exited = new Promise((resolve) => {
      this.#resolveExit = resolve;
    });
  }

  get exited(): boolean {
    return this.exitedAt !== undefined;
  }

  /** Records the exit (once) and wakes Wait callers. */
  setExited(status: number, at = new Date()): void {
    if (this.exitedAt !== undefined) return;
    this.exitStatus = status;
    this.exitedAt = at;
    if (this.state !== "deleted") this.state = "stopped";
    this.io?.processExited?.();
    this.#resolveExit();
  }

  /** Wakes Wait callers without an exit (a start that failed), as upstream does. */
  releaseWaiters(): void {
    this.#resolveExit();
  }

  /** Resolves once the process has exited (or its start failed); rejects when `signal` aborts. */
  wait(signal?: AbortSignal): Promise<void> {
    if (signal === undefined) return this.#exited;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#exited.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  /** The state as the Task API reports it. */
  status(parent?: ShimProcess): ProcessState | "pausing" {
    const owner = parent ?? this;
    if (owner.pausing) return "pausing";
    if (parent !== undefined && parent.state === "paused") return "paused";
    return this.state;
  }

  /** Throws FailedPrecondition unless the process is in one of `allowed`, with upstream's wording. */
  expect(action: string, allowed: readonly ProcessState[]): void {
    if (allowed.includes(this.state)) return;
    const noun =
      this.isInit && (action === "pause" || action === "resume" || action === "update")
        ? "container"
        : "process";
    throw failedPrecondition(`cannot ${action} a ${this.state} ${noun}`);
  }
}
