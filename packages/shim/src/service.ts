import {
  TaskCreate,
  TaskDelete,
  TaskExecAdded,
  TaskExecStarted,
  TaskExit,
  TaskOOM,
  TaskPaused,
  TaskResumed,
  TaskStart,
} from "@berth/api/containerd/events/task";
import { ProcessDetails } from "@berth/api/containerd/runtime/v2/runc/options/oci";
import type { TaskDefinition } from "@berth/api/containerd/runtime/v2/task/shim";
import { Status } from "@berth/api/containerd/types/task/task";
import type { ServiceImplementation } from "@berth/ttrpc";
import { Container, PROCESS_DETAILS_TYPE_URL } from "./container.js";
import { alreadyExists, notFound, unimplemented } from "./errors.js";
import { type EventPublisher, Topics, packEvent } from "./events.js";
import { OomWatcher } from "./oom.js";
import type { ShimProcess } from "./process.js";
import { ForeignWatch, type Reaper } from "./reaper.js";
import type { ChildExit } from "./sys.js";
import { VERSION } from "./version.js";

// containerd.task.v2.Task: each handler finds the container, asks it to do the work and
// publishes the event upstream's runc shim publishes for that call.

export interface TaskServiceOptions {
  namespace: string;
  publisher: EventPublisher;
  reaper: Reaper;
  /** Called after Shutdown when no container is left. */
  onShutdown: () => void;
}

/**
 * Berth's extension of Update for tasks whose output goes to a `cri-log://` URI: with this
 * annotation set to "1" the shim reopens the log file (kubelet renamed it to rotate it),
 * and the resources, which may then be absent, are left alone. Update is the Task API
 * call that carries free-form data; upstream shims never see the annotation, since only a
 * client that created the task with a `cri-log://` URI sends it.
 */
export const REOPEN_LOG_ANNOTATION = "io.berth.cri.reopen-log";

const statusCodes = {
  created: Status.CREATED,
  running: Status.RUNNING,
  stopped: Status.STOPPED,
  paused: Status.PAUSED,
  pausing: Status.PAUSING,
  deleted: Status.UNKNOWN,
} as const;

/** Runs `fn` and, whatever happens, settles `p.gate` afterwards (exits wait on it). */
async function gated<T>(p: ShimProcess, fn: () => Promise<T>): Promise<T> {
  let open!: () => void;
  const previous = p.gate;
  p.gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  try {
    await previous;
    return await fn();
  } finally {
    open();
  }
}

export class TaskService {
  readonly containers = new Map<string, Container>();
  readonly #options: TaskServiceOptions;
  readonly #oom: OomWatcher;
  readonly #foreign = new ForeignWatch();

  constructor(options: TaskServiceOptions) {
    this.#options = options;
    this.#oom = new OomWatcher((id) =>
      this.#publish(Topics.oom, packEvent("TaskOOM", TaskOOM, TaskOOM.fromPartial({ containerId: id }))),
    );
  }

  #publish(topic: string, event: ReturnType<typeof packEvent>): void {
    this.#options.publisher.publish(topic, event);
  }

  #container(id: string): Container {
    const c = this.containers.get(id);
    if (c === undefined) throw notFound("container not created: not found");
    return c;
  }

  /** A reaped exit of a watched process: record it, then tell the daemon (after any start event). */
  #onExit = (container: Container, p: ShimProcess, exit: ChildExit): void => {
    void (async () => {
      await p.gate;
      const at = new Date();
      if (p.isInit) {
        // Exec'd processes do not outlive the container's init.
        for (const e of container.execs.values()) {
          if (e.pid > 0 && !e.exited) {
            try {
              process.kill(e.pid, "SIGKILL");
            } catch {
              // already gone
            }
          }
        }
        await container.afterInitExit();
        // An OOM kill is reported before the exit it caused, as upstream's event-driven watcher does.
        await this.#oom.remove(container.id);
      }
      p.setExited(exit.status, at);
      if (this.containers.get(container.id) !== container) return; // deleted meanwhile
      this.#publish(
        Topics.exit,
        packEvent(
          "TaskExit",
          TaskExit,
          TaskExit.fromPartial({
            containerId: container.id,
            id: p.id,
            pid: exit.pid,
            exitStatus: exit.status,
            exitedAt: at,
          }),
        ),
      );
    })();
  };

  readonly implementation: ServiceImplementation<typeof TaskDefinition> = {
    state: async (r) => {
      const c = this.#container(r.id);
      const p = c.process(r.execId);
      const sio = p.stdio;
      return {
        id: p.id,
        bundle: c.bundle,
        pid: p.pid,
        status: statusCodes[p.status(p.isInit ? undefined : c.init)],
        stdin: sio.stdin,
        stdout: sio.stdout,
        stderr: sio.stderr,
        terminal: sio.terminal,
        exitStatus: p.exitStatus,
        exitedAt: p.exitedAt,
        execId: p.isInit ? "" : p.id,
      };
    },

    create: async (r) => {
      if (this.containers.has(r.id)) throw alreadyExists(`container ${r.id}: already exists`);
      const c = await Container.create(r, this.#options.namespace, this.#options.reaper, this.#onExit);
      await gated(c.init, async () => {
        this.containers.set(r.id, c);
        this.#publish(
          Topics.create,
          packEvent(
            "TaskCreate",
            TaskCreate,
            TaskCreate.fromPartial({
              containerId: r.id,
              bundle: r.bundle,
              rootfs: r.rootfs,
              io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
              checkpoint: r.checkpoint,
              pid: c.init.pid,
            }),
          ),
        );
      });
      return { pid: c.init.pid };
    },

    start: async (r) => {
      const c = this.#container(r.id);
      const p = c.process(r.execId);
      return gated(p, async () => {
        await c.start(r.execId);
        if (p.isInit) {
          if (c.memoryCgroup !== undefined) await this.#oom.add(c.id, c.memoryCgroup);
          this.#publish(
            Topics.start,
            packEvent("TaskStart", TaskStart, TaskStart.fromPartial({ containerId: c.id, pid: p.pid })),
          );
        } else {
          this.#publish(
            Topics.execStarted,
            packEvent(
              "TaskExecStarted",
              TaskExecStarted,
              TaskExecStarted.fromPartial({ containerId: c.id, execId: p.id, pid: p.pid }),
            ),
          );
        }
        return { pid: p.pid };
      });
    },

    delete: async (r) => {
      const c = this.#container(r.id);
      const p = await c.delete(r.execId);
      if (p.isInit) {
        this.containers.delete(c.id);
        void this.#oom.remove(c.id);
        this.#publish(
          Topics.delete,
          packEvent(
            "TaskDelete",
            TaskDelete,
            TaskDelete.fromPartial({
              containerId: c.id,
              pid: p.pid,
              exitStatus: p.exitStatus,
              exitedAt: p.exitedAt,
            }),
          ),
        );
      }
      return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt };
    },

    pids: async (r) => {
      const c = this.#container(r.id);
      const pids = await c.runc.ps(c.id);
      return {
        processes: pids.map((pid) => {
          const exec = [...c.execs.values()].find((e) => e.pid === pid);
          return {
            pid,
            info:
              exec === undefined
                ? undefined
                : {
                    typeUrl: PROCESS_DETAILS_TYPE_URL,
                    value: Buffer.from(ProcessDetails.encode({ execId: exec.id }).finish()),
                  },
          };
        }),
      };
    },

    pause: async (r) => {
      const c = this.#container(r.id);
      await c.pause();
      this.#publish(
        Topics.paused,
        packEvent("TaskPaused", TaskPaused, TaskPaused.fromPartial({ containerId: c.id })),
      );
      return {};
    },

    resume: async (r) => {
      const c = this.#container(r.id);
      await c.resume();
      this.#publish(
        Topics.resumed,
        packEvent("TaskResumed", TaskResumed, TaskResumed.fromPartial({ containerId: c.id })),
      );
      return {};
    },

    checkpoint: async (r) => {
      this.#container(r.id);
      throw unimplemented("checkpoint is not supported by containerd-shim-berth-v2 (no CRIU support)");
    },

    kill: async (r) => {
      await this.#container(r.id).kill(r.execId, r.signal, r.all);
      return {};
    },

    exec: async (r) => {
      const c = this.#container(r.id);
      const p = c.addExec(r);
      this.#publish(
        Topics.execAdded,
        packEvent(
          "TaskExecAdded",
          TaskExecAdded,
          TaskExecAdded.fromPartial({ containerId: c.id, execId: p.id }),
        ),
      );
      return {};
    },

    resizePty: async (r) => {
      const p = this.#container(r.id).process(r.execId);
      p.io?.resize?.(r.width, r.height);
      return {};
    },

    closeIO: async (r) => {
      const p = this.#container(r.id).process(r.execId);
      if (r.stdin) p.io?.closeStdin();
      return {};
    },

    update: async (r) => {
      const c = this.#container(r.id);
      if (r.annotations[REOPEN_LOG_ANNOTATION] === "1") {
        await c.reopenLog();
        if (r.resources === undefined || r.resources.value.length === 0) return {};
      }
      await c.update(r.resources);
      return {};
    },

    wait: async (r, ctx) => {
      const p = this.#container(r.id).process(r.execId);
      await p.wait(ctx.signal);
      return { exitStatus: p.exitStatus, exitedAt: p.exitedAt };
    },

    stats: async (r) => {
      const c = this.#container(r.id);
      const data = await c.runc.stats(c.id);
      const { metricsFromRunc, packMetrics } = await import("./metrics.js");
      return { stats: packMetrics(metricsFromRunc(data)) };
    },

    connect: async (r) => {
      const c = this.containers.get(r.id);
      return { shimPid: process.pid, taskPid: c?.init.pid ?? 0, version: VERSION };
    },

    shutdown: async () => {
      if (this.containers.size > 0) return {};
      setImmediate(this.#options.onShutdown);
      return {};
    },
  };

  /**
   * Adopts the containers of `bundles` that a shim of this group started and then died
   * serving (Container.adopt); those without a record are skipped, failures logged. Runs
   * before the socket is served, so the daemon's first call finds them.
   */
  async adopt(bundles: string[], onError: (bundle: string, err: unknown) => void): Promise<string[]> {
    const adopted: string[] = [];
    for (const bundle of bundles) {
      try {
        const c = await Container.adopt(bundle, this.#options.reaper, this.#foreign, this.#onExit);
        if (c === undefined || this.containers.has(c.id)) continue;
        this.containers.set(c.id, c);
        if (c.memoryCgroup !== undefined && c.init.state !== "created")
          await this.#oom.add(c.id, c.memoryCgroup);
        adopted.push(c.id);
      } catch (err) {
        onError(bundle, err);
      }
    }
    return adopted;
  }

  stop(): void {
    this.#oom.stop();
    this.#foreign.stop();
  }
}
