// Follows the daemon's task events: the exit of a container's or sandbox's init process
// and OOM kills. When the stream breaks (the daemon restarted) it subscribes again and
// reconciles, so an exit that happened meanwhile is still recorded.

import { TaskExit, TaskOOM } from "@berth/api/containerd/events/task";
import { Status as TaskStatus } from "@berth/api/containerd/types/task/task";
import type { Cri } from "../cri.js";
import { handleContainerExit, handleSandboxExit, isUnknownExit } from "../runtime/exit.js";
import { getTask } from "../runtime/task.js";
import { containerState } from "../store/stores.js";

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

export class EventMonitor {
  readonly #cri: Cri;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(cri: Cri) {
    this.#cri = cri;
  }

  /** Subscribes; resolves once the first subscription is established (or failed once). */
  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop?.catch(() => undefined);
  }

  async #run(): Promise<void> {
    const cri = this.#cri;
    const signal = this.#abort.signal;
    let delay = RETRY_MIN_MS;
    let first = true;
    while (!signal.aborted) {
      try {
        const stream = cri.containerd.events.subscribe(
          { filters: ['topic=="/tasks/exit"', 'topic=="/tasks/oom"'] },
          { signal },
        );
        // Exits missed while there was no subscription are found by asking the daemon.
        if (!first) await reconcile(cri);
        first = false;
        for await (const envelope of stream) {
          delay = RETRY_MIN_MS;
          if (envelope.namespace !== cri.containerd.namespace || envelope.event === undefined) continue;
          // Not awaited: an exit waits for the log to drain, which must not hold up other events.
          this.#handle(envelope.event.typeUrl, envelope.event.value).catch((err) =>
            cri.log.error("handling a task event failed", { topic: envelope.topic, error: String(err) }),
          );
        }
      } catch (err) {
        if (signal.aborted) return;
        cri.log.warn("event stream from the daemon broke; subscribing again", {
          error: String(err),
          delayMs: delay,
        });
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  async #handle(typeUrl: string, value: Buffer): Promise<void> {
    const cri = this.#cri;
    if (typeUrl.endsWith("containerd.events.TaskExit")) {
      const e = TaskExit.decode(value);
      if (e.id !== e.containerId) return; // an exec's exit: ExecSync waits for it itself
      const c = cri.containers.find(e.containerId);
      if (c !== undefined) {
        await handleContainerExit(cri, c, {
          exitStatus: e.exitStatus,
          exitedAt: e.exitedAt,
          unknown: isUnknownExit(e),
        });
        return;
      }
      const s = cri.sandboxes.find(e.containerId);
      if (s !== undefined) await handleSandboxExit(cri, s);
    } else if (typeUrl.endsWith("containerd.events.TaskOOM")) {
      const e = TaskOOM.decode(value);
      const c = cri.containers.find(e.containerId);
      if (c === undefined || c.status.oomKilled) return;
      // The OOM may be reported after the exit was recorded: the reason follows it then.
      c.status = {
        ...c.status,
        oomKilled: true,
        reason: c.status.finishedAt > 0n ? "OOMKilled" : c.status.reason,
      };
      await cri.persistStatus(c);
    }
  }
}

/** Brings running containers and ready sandboxes in line with their tasks. */
export async function reconcile(cri: Cri): Promise<void> {
  for (const c of cri.containers.list()) {
    if (containerState(c) !== "running") continue;
    const p = await getTask(cri, c.meta.id).catch(() => null);
    if (p === null) continue; // the daemon did not answer: try again next time
    if (p === undefined) await handleContainerExit(cri, c, undefined);
    else if (p.status === TaskStatus.STOPPED) {
      await handleContainerExit(cri, c, { exitStatus: p.exitStatus, exitedAt: p.exitedAt });
    }
  }
  for (const s of cri.sandboxes.list()) {
    if (s.state !== "ready") continue;
    const p = await getTask(cri, s.meta.id).catch(() => null);
    if (p === null) continue;
    if (p === undefined || p.status === TaskStatus.STOPPED) await handleSandboxExit(cri, s);
  }
}
