// Tasks (a container's running init process) and their execs, through the Tasks service:
// create with the container's rootfs, wait, kill, delete (forcibly: kill and wait first,
// as containerd's WithProcessKill does), exec with a process spec.

import type { Container } from "@berth/api/containerd/services/containers/v1/containers";
import { type Process, Status, statusToJSON } from "@berth/api/containerd/types/task/task";
import type { Connection } from "../connection.js";
import { isKind, isNotFound, notFound } from "../errdefs.js";
import { containerRootfs } from "./containers.js";
import { type SpecProcess, processToAny } from "./spec.js";
import type { StdioPaths } from "./stdio.js";

export { Status };
export type { Process };

interface CallOptions {
  signal?: AbortSignal;
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}

/** "RUNNING", "STOPPED"…: the status as ctr prints it. */
export function statusName(status: Status): string {
  return statusToJSON(status);
}

/** The task of container `id`; NotFound ("task <id> not found") when it has none. */
export async function getTask(conn: Connection, id: string, options: CallOptions = {}): Promise<Process> {
  try {
    const res = await conn.tasks.get({ containerId: id }, opt(options.signal));
    if (res.process !== undefined) return res.process;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  throw notFound(`task ${id} not found`);
}

/** All tasks of the namespace, sorted by container ID. */
export async function listTasks(conn: Connection, options: CallOptions = {}): Promise<Process[]> {
  const res = await conn.tasks.list({ filter: "" }, opt(options.signal));
  return [...res.tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Creates the container's task on its rootfs snapshot, with the given stdio; returns the init PID. */
export async function createTask(
  conn: Connection,
  container: Container,
  stdio: StdioPaths,
  options: CallOptions = {},
): Promise<number> {
  const rootfs = await containerRootfs(conn, container, options);
  const res = await conn.tasks.create(
    {
      containerId: container.id,
      rootfs,
      stdin: stdio.stdin,
      stdout: stdio.stdout,
      stderr: stdio.stderr,
      terminal: stdio.terminal,
    },
    opt(options.signal),
  );
  return res.pid;
}

export interface ExitStatus {
  /** The exit code; 128 + N for a process killed by signal N. */
  code: number;
  exitedAt: Date | undefined;
}

/** A pending Tasks.Wait: started before Start so that no exit is missed. */
export interface ExitWait {
  readonly exited: Promise<ExitStatus>;
  /** Abandons the wait (the promise then rejects). */
  cancel(): void;
}

/** Waits for the task's init process (execId "") or one of its execs to exit. */
export function waitForExit(conn: Connection, id: string, execId = "", signal?: AbortSignal): ExitWait {
  const controller = new AbortController();
  const combined = signal !== undefined ? AbortSignal.any([signal, controller.signal]) : controller.signal;
  const exited = conn.tasks
    .wait({ containerId: id, execId }, { signal: combined })
    .then((r) => ({ code: r.exitStatus, exitedAt: r.exitedAt }));
  // Whoever abandons a wait does not read it: keep its rejection from going unhandled.
  exited.catch(() => undefined);
  return { exited, cancel: () => controller.abort() };
}

export interface KillOptions extends CallOptions {
  /** Signal every process in the container, not only the init process. */
  all?: boolean;
  execId?: string;
}

export async function killTask(
  conn: Connection,
  id: string,
  signal: number,
  options: KillOptions = {},
): Promise<void> {
  await conn.tasks.kill(
    { containerId: id, execId: options.execId ?? "", signal, all: options.all === true },
    opt(options.signal),
  );
}

/** SIGKILLs every process of the task and waits for the init process to be gone. */
export async function forceStop(conn: Connection, id: string, options: CallOptions = {}): Promise<void> {
  const wait = waitForExit(conn, id, "", options.signal);
  try {
    try {
      await killTask(conn, id, 9, { all: true, ...opt(options.signal) });
    } catch (err) {
      // Already gone, or not started: nothing left to stop.
      if (isKind(err, "FailedPrecondition")) return;
      if (!isNotFound(err)) throw err;
    }
    await wait.exited;
  } finally {
    wait.cancel();
  }
}

export interface DeleteTaskOptions extends CallOptions {
  /** Kill a task that is still running first. */
  force?: boolean;
}

/** Deletes the task (it must have stopped, or be forced); returns its exit status. */
export async function deleteTask(
  conn: Connection,
  id: string,
  options: DeleteTaskOptions = {},
): Promise<ExitStatus> {
  if (options.force === true) await forceStop(conn, id, options);
  try {
    const res = await conn.tasks.delete({ containerId: id }, opt(options.signal));
    return { code: res.exitStatus, exitedAt: res.exitedAt };
  } catch (err) {
    if (isNotFound(err)) throw notFound(`task ${id} not found`);
    throw err;
  }
}

export interface ExecOptions extends CallOptions {
  execId: string;
  process: SpecProcess;
  stdio: StdioPaths;
}

/** Adds an exec process to a running task (not started yet). */
export async function execProcess(conn: Connection, id: string, options: ExecOptions): Promise<void> {
  await conn.tasks.exec(
    {
      containerId: id,
      execId: options.execId,
      stdin: options.stdio.stdin,
      stdout: options.stdio.stdout,
      stderr: options.stdio.stderr,
      terminal: options.stdio.terminal,
      spec: processToAny(options.process),
    },
    opt(options.signal),
  );
}

/** Starts the task's init process (execId "") or an exec; returns its PID. */
export async function startProcess(
  conn: Connection,
  id: string,
  execId = "",
  options: CallOptions = {},
): Promise<number> {
  return (await conn.tasks.start({ containerId: id, execId }, opt(options.signal))).pid;
}

export async function deleteProcess(
  conn: Connection,
  id: string,
  execId: string,
  options: CallOptions = {},
): Promise<ExitStatus> {
  const res = await conn.tasks.deleteProcess({ containerId: id, execId }, opt(options.signal));
  return { code: res.exitStatus, exitedAt: res.exitedAt };
}

export async function resizePty(
  conn: Connection,
  id: string,
  execId: string,
  size: { width: number; height: number },
  options: CallOptions = {},
): Promise<void> {
  await conn.tasks.resizePty({ containerId: id, execId, ...size }, opt(options.signal));
}

/** Closes the process's stdin (its reader sees end-of-file). */
export async function closeStdin(conn: Connection, id: string, execId = "", options: CallOptions = {}) {
  await conn.tasks.closeIO({ containerId: id, execId, stdin: true }, opt(options.signal));
}
