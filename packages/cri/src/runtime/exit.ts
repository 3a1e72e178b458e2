// What happens when a task's init process exits, whoever noticed first (the event
// monitor, StopContainer, recovery): the exit is recorded in the daemon, the task is
// deleted so the shim lets go of the FIFOs, and berth-cri's log copy is finished. When the
// shim writes the CRI log itself, its Delete returns once the last output is in the file.

import { ContainerEventType } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { nowNs } from "../store/records.js";
import type { Container, Sandbox } from "../store/stores.js";
import { dateToNs, deleteTask } from "./task.js";

/** Exit code reported when the exit status could not be learnt (the task vanished). */
export const UNKNOWN_EXIT_CODE = 255;

/**
 * How long the log copy may take to drain once the task is deleted: the shim has put
 * everything into the FIFOs by then, so this only covers reading what is buffered.
 */
const LOG_DRAIN_MS = 2_000;

/**
 * An exit as the daemon reported it. `unknown`: the shim did not see the status (the
 * process ended while no shim was alive, or after a new shim adopted it), so the code is
 * UNKNOWN_EXIT_CODE and the reason `Unknown`, as when the task vanished.
 */
export interface ReportedExit {
  exitStatus: number;
  exitedAt: Date | undefined;
  unknown?: boolean;
}

/** Berth's shim reports an exit it did not see with pid 0 (a process it saw exit has its pid). */
export function isUnknownExit(e: { pid: number; exitStatus: number }): boolean {
  return e.pid === 0 && e.exitStatus === UNKNOWN_EXIT_CODE;
}

export function handleContainerExit(cri: Cri, c: Container, exit: ReportedExit | undefined): Promise<void> {
  c.exiting ??= recordExit(cri, c, exit);
  return c.exiting;
}

async function recordExit(cri: Cri, c: Container, exit: ReportedExit | undefined): Promise<void> {
  const id = c.meta.id;
  let known = exit;
  try {
    const deleted = await deleteTask(cri, id);
    known ??= deleted;
  } catch (err) {
    cri.log.warn("cannot delete the task of an exited container", { id, error: String(err) });
  }
  if (c.status.finishedAt === 0n) {
    // The shim's exit time has millisecond precision: never before the recorded start.
    const exitedAt = known !== undefined ? dateToNs(known.exitedAt) : nowNs();
    c.status = {
      ...c.status,
      pid: 0,
      finishedAt: exitedAt < c.status.startedAt ? c.status.startedAt : exitedAt,
      exitCode: known !== undefined ? known.exitStatus : UNKNOWN_EXIT_CODE,
      reason: c.status.oomKilled
        ? "OOMKilled"
        : known === undefined || exit?.unknown === true
          ? "Unknown"
          : c.status.reason,
    };
    c.unknown = false;
    await cri.persistStatus(c).catch((err) => {
      // The record may be gone (removed meanwhile); the cache still says exited.
      cri.log.warn("cannot record a container exit", { id, error: String(err) });
    });
  }
  await finishIo(cri, c);
  c.markExited();
  cri.publishContainerEvent(id, ContainerEventType.CONTAINER_STOPPED_EVENT);
}

/** Waits (bounded) for the output to drain into the log, then closes the log file (FIFO-fed logs only). */
export async function finishIo(cri: Cri, c: Container): Promise<void> {
  const io = c.io;
  if (io === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    io.done.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), LOG_DRAIN_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!drained) cri.log.warn("container output did not end after its task was deleted", { id: c.meta.id });
  io.close();
  await io.log.close();
}

export function handleSandboxExit(cri: Cri, s: Sandbox): Promise<void> {
  s.state = "notready";
  s.pid = 0;
  s.exiting ??= deletePauseTask(cri, s);
  return s.exiting;
}

async function deletePauseTask(cri: Cri, s: Sandbox): Promise<void> {
  try {
    await deleteTask(cri, s.meta.id);
  } catch (err) {
    cri.log.warn("cannot delete the task of an exited sandbox", { id: s.meta.id, error: String(err) });
  }
}
