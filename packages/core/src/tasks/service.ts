import type { TasksServiceImplementation } from "@berth/api/containerd/services/tasks/v1/tasks";
// containerd.services.tasks.v1.Tasks: each call goes to the task's shim over ttrpc.
import type { Process } from "@berth/api/containerd/types/task/task";
import { invalidArgument, isNotFound, notImplemented } from "@berth/client/errdefs";
import type { Logger } from "@berth/client/log";
import { parseFilters, recordGetter } from "../filters/filters.js";
import type { ContainerStore } from "../metadata/containers.js";
import { requireNamespace } from "../metadata/context.js";
import type { RuntimeManager, TaskEntry } from "../runtime/manager.js";
import { requestContext } from "../server/context.js";

async function processOf(t: TaskEntry, execId: string): Promise<Process> {
  const s = await t.api.state({ id: t.id, execId });
  return {
    containerId: t.id,
    id: execId || t.id,
    pid: s.pid,
    status: s.status,
    stdin: s.stdin,
    stdout: s.stdout,
    stderr: s.stderr,
    terminal: s.terminal,
    exitStatus: s.exitStatus,
    exitedAt: s.exitedAt,
  };
}

export function tasksService(
  runtime: RuntimeManager,
  containers: ContainerStore,
  log: Logger,
): TasksServiceImplementation {
  const task = (call: Parameters<TasksServiceImplementation["get"]>[1], id: string) => {
    const ctx = requestContext(call);
    if (id === "") throw invalidArgument("container id must not be empty");
    return runtime.get(requireNamespace(ctx), id);
  };
  return {
    async create(req, call) {
      const ctx = requestContext(call);
      const ns = requireNamespace(ctx);
      if (req.checkpoint)
        throw notImplemented("creating a task from a checkpoint is not supported by berthd");
      const container = containers.get(ctx, req.containerId);
      const t = await runtime.create(ns, container, {
        rootfs: req.rootfs,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        terminal: req.terminal,
        options: req.options,
      });
      return { containerId: t.id, pid: t.pid };
    },
    async start(req, call) {
      const t = task(call, req.containerId);
      return { pid: (await t.api.start({ id: t.id, execId: req.execId })).pid };
    },
    async delete(req, call) {
      const ns = requireNamespace(requestContext(call));
      task(call, req.containerId);
      const r = await runtime.delete(ns, req.containerId);
      return { id: req.containerId, pid: r.pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt };
    },
    async deleteProcess(req, call) {
      const t = task(call, req.containerId);
      if (req.execId === "") throw invalidArgument("exec id must not be empty: delete the task instead");
      const r = await t.api.delete({ id: t.id, execId: req.execId });
      return { id: req.execId, pid: r.pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt };
    },
    async get(req, call) {
      return { process: await processOf(task(call, req.containerId), req.execId) };
    },
    async list(req, call) {
      const ns = requireNamespace(requestContext(call));
      const f = parseFilters(req.filter ? [req.filter] : []);
      const out: Process[] = [];
      for (const t of runtime.list(ns)) {
        try {
          const p = await processOf(t, "");
          if (f.match(recordGetter({ id: t.id, container_id: t.id, pid: String(p.pid) }))) out.push(p);
        } catch (err) {
          // A task whose shim just went away is not listed.
          log.warn("task state unavailable", { namespace: ns, id: t.id, error: String(err) });
        }
      }
      return { tasks: out };
    },
    async kill(req, call) {
      const t = task(call, req.containerId);
      await t.api.kill({ id: t.id, execId: req.execId, signal: req.signal, all: req.all });
      return {};
    },
    async exec(req, call) {
      const t = task(call, req.containerId);
      if (req.execId === "") throw invalidArgument("exec id must not be empty");
      if (!req.spec) throw invalidArgument("exec spec must not be empty");
      await t.api.exec({
        id: t.id,
        execId: req.execId,
        terminal: req.terminal,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        spec: req.spec,
      });
      return {};
    },
    async resizePty(req, call) {
      const t = task(call, req.containerId);
      await t.api.resizePty({ id: t.id, execId: req.execId, width: req.width, height: req.height });
      return {};
    },
    async closeIO(req, call) {
      const t = task(call, req.containerId);
      await t.api.closeIO({ id: t.id, execId: req.execId, stdin: req.stdin });
      return {};
    },
    async pause(req, call) {
      const t = task(call, req.containerId);
      await t.api.pause({ id: t.id });
      return {};
    },
    async resume(req, call) {
      const t = task(call, req.containerId);
      await t.api.resume({ id: t.id });
      return {};
    },
    async listPids(req, call) {
      const t = task(call, req.containerId);
      return { processes: (await t.api.pids({ id: t.id })).processes };
    },
    async checkpoint() {
      throw notImplemented("checkpoint is not supported by berthd (no CRIU integration)");
    },
    async update(req, call) {
      const t = task(call, req.containerId);
      await t.api.update({ id: t.id, resources: req.resources, annotations: req.annotations });
      return {};
    },
    async metrics(req, call) {
      const ns = requireNamespace(requestContext(call));
      const f = parseFilters(req.filters);
      // Asked of every shim at once. A task that went (or is not there yet) in its shim is
      // left out, and one whose shim fails is logged and left out, as containerd does:
      // one sick shim must not blind kubelet's stats of every other task.
      const tasks = runtime.list(ns).filter((t) => f.match(recordGetter({ id: t.id, namespace: ns })));
      const answers = await Promise.all(
        tasks.map(async (t) => {
          try {
            const s = await t.api.stats({ id: t.id });
            return { timestamp: new Date(), id: t.id, data: s.stats };
          } catch (err) {
            if (!isNotFound(err)) log.error("collecting metrics failed", { id: t.id, error: String(err) });
            return undefined;
          }
        }),
      );
      const metrics = answers.filter((m) => m !== undefined);
      return { metrics };
    },
    async wait(req, call) {
      const t = task(call, req.containerId);
      const r = await t.api.wait({ id: t.id, execId: req.execId }, { signal: call.signal });
      return { exitStatus: r.exitStatus, exitedAt: r.exitedAt };
    },
  };
}
