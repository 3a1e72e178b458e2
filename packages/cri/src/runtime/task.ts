// Task calls shared by several CRI calls: read a task's process, kill it, delete it.
// A missing task is not an error for any of them.

import { type Process, Status as TaskStatus } from "@berth/api/containerd/types/task/task";
import { isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";

export const SIGKILL = 9;
export const SIGTERM = 15;

export async function getTask(cri: Cri, id: string): Promise<Process | undefined> {
  try {
    return (await cri.containerd.tasks.get({ containerId: id, execId: "" })).process;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function killTask(cri: Cri, id: string, signal: number, all = false): Promise<void> {
  try {
    await cri.containerd.tasks.kill({ containerId: id, execId: "", signal, all });
  } catch (err) {
    // Gone already, or not running any more: what the caller wanted.
    if (isNotFound(err)) return;
    throw err;
  }
}

/** Deletes the task, killing it first when it still runs. Returns its exit status when known. */
export async function deleteTask(
  cri: Cri,
  id: string,
): Promise<{ exitStatus: number; exitedAt: Date | undefined } | undefined> {
  const p = await getTask(cri, id);
  if (p === undefined) return undefined;
  if (p.status === TaskStatus.RUNNING || p.status === TaskStatus.PAUSED || p.status === TaskStatus.CREATED) {
    await killTask(cri, id, SIGKILL, true);
    await waitTask(cri, id, 10_000).catch(() => undefined);
  }
  try {
    const r = await cri.containerd.tasks.delete({ containerId: id });
    return { exitStatus: r.exitStatus, exitedAt: r.exitedAt };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Waits (at most `timeoutMs`) for the task's init process to exit. */
export async function waitTask(
  cri: Cri,
  id: string,
  timeoutMs: number,
): Promise<{ exitStatus: number; exitedAt: Date | undefined }> {
  const signal = AbortSignal.timeout(timeoutMs);
  const r = await cri.containerd.tasks.wait({ containerId: id, execId: "" }, { signal });
  return { exitStatus: r.exitStatus, exitedAt: r.exitedAt };
}

export function dateToNs(d: Date | undefined): bigint {
  if (d === undefined || Number.isNaN(d.getTime()) || d.getTime() <= 0)
    return BigInt(Date.now()) * 1_000_000n;
  return BigInt(d.getTime()) * 1_000_000n;
}
