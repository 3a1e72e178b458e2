// StopContainer: the image's stop signal (SIGTERM by default), up to `timeout` seconds
// for the process to exit, then SIGKILL. A container that is not running is left alone.

import type { StopContainerRequest, StopContainerResponse } from "@berth/api/cri/runtime/v1/api";
import { BerthError, isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";
import { type Container, containerState } from "../store/stores.js";
import { handleContainerExit } from "./exit.js";
import { parseSignal } from "./signals.js";
import { SIGKILL, getTask, killTask } from "./task.js";

/** How long a SIGKILLed container may take to be reported gone. */
const KILL_WAIT_MS = 60_000;

export async function stopContainer(cri: Cri, req: StopContainerRequest): Promise<StopContainerResponse> {
  const c = cri.containers.get(req.containerId);
  await stopContainerNow(cri, c, Number(req.timeout));
  return {};
}

/**
 * Waits up to `ms` for the container to exit, learning of it from the event monitor or
 * from the daemon's Wait (whichever comes first). True when it exited.
 */
export async function waitForExit(cri: Cri, c: Container, ms: number): Promise<boolean> {
  if (c.status.finishedAt > 0n) return true;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    const viaWait = cri.containerd.tasks
      .wait({ containerId: c.meta.id, execId: "" }, { signal: abort.signal })
      .then(
        (r) => handleContainerExit(cri, c, { exitStatus: r.exitStatus, exitedAt: r.exitedAt }),
        (err) => {
          if (isNotFound(err)) return handleContainerExit(cri, c, undefined);
          // Aborted, or the daemon is away: the event monitor may still report the exit.
          return new Promise<void>(() => undefined);
        },
      );
    const timedOut = new Promise<false>((resolve) =>
      abort.signal.addEventListener("abort", () => resolve(false)),
    );
    const exited = await Promise.race([c.exited.then(() => true), viaWait.then(() => true), timedOut]);
    if (exited) await c.exiting;
    return exited;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

export async function stopContainerNow(cri: Cri, c: Container, timeoutSeconds: number): Promise<void> {
  const id = c.meta.id;
  const state = containerState(c);
  if (state === "created" || state === "exited") return;
  if (state === "unknown" && (await getTask(cri, id)) === undefined) {
    await handleContainerExit(cri, c, undefined);
    return;
  }
  if (timeoutSeconds > 0) {
    const signal = parseSignal(c.meta.stopSignal);
    await killTask(cri, id, signal);
    if (await waitForExit(cri, c, timeoutSeconds * 1000)) return;
    cri.log.info("container did not stop in time; killing it", { id, timeoutSeconds });
  }
  await killTask(cri, id, SIGKILL, true);
  if (!(await waitForExit(cri, c, KILL_WAIT_MS))) {
    throw new BerthError(
      "DeadlineExceeded",
      `container ${id} did not exit ${KILL_WAIT_MS / 1000} s after SIGKILL`,
    );
  }
}
