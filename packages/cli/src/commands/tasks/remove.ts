// berthctl tasks rm: delete stopped tasks (with -f, kill them first), or one exec process.

import { BerthError, errorMessage, isNotFound } from "@berth/client";
import { Status, deleteProcess, deleteTask, statusName } from "@berth/client/tasks/index";
import { type Command, type CommandContext, ReportedError, UsageError, parseOptions } from "../../command.js";
import { loadTask } from "./lookup.js";

export const removeCommand: Command = {
  name: "rm",
  aliases: ["remove", "delete", "del"],
  summary: "delete tasks that have stopped",
  synopsis: "[-f] [--exec-id EID] ID...",
  help: [
    "-f, --force           kill the task's processes first",
    "--exec-id EID         delete this exec process of the task instead",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { force: { type: "boolean", short: "f" }, "exec-id": { type: "string" } },
      "tasks rm",
    );
    if (positionals.length === 0)
      throw new UsageError("tasks rm needs at least one task: berthctl tasks rm ID...");
    const force = values.force === true;
    const execId = values["exec-id"];
    if (execId !== undefined) {
      if (positionals.length !== 1) throw new UsageError("tasks rm --exec-id takes one task ID");
      await removeExec(ctx, positionals[0]!, execId, force);
      return;
    }
    let failed = false;
    for (const id of positionals) {
      try {
        await removeTask(ctx, id, force);
      } catch (err) {
        if (positionals.length === 1) throw err;
        ctx.stderr.write(`berthctl: ${errorMessage(err)}\n`);
        failed = true;
      }
    }
    if (failed) throw new ReportedError(1);
  },
};

async function removeTask(ctx: CommandContext, id: string, force: boolean): Promise<void> {
  const conn = ctx.connect();
  const task = await loadTask(conn, id, ctx.signal);
  if (!force && task.status !== Status.STOPPED && task.status !== Status.CREATED) {
    throw new BerthError(
      "FailedPrecondition",
      `task ${id} is ${statusName(task.status).toLowerCase()}: stop it with 'berthctl tasks kill ${id}', or use 'tasks rm -f'`,
    );
  }
  const status = await deleteTask(conn, id, { force, signal: ctx.signal });
  // ctr warns about a non-zero exit status but still succeeds.
  if (status.code !== 0) ctx.stderr.write(`berthctl: task ${id} exited with code ${status.code}\n`);
}

async function removeExec(ctx: CommandContext, id: string, execId: string, force: boolean): Promise<void> {
  const conn = ctx.connect();
  await loadTask(conn, id, ctx.signal);
  if (force) await forceStopExec(ctx, id, execId);
  try {
    const status = await deleteProcess(conn, id, execId, { signal: ctx.signal });
    if (status.code !== 0) throw new ReportedError(status.code);
  } catch (err) {
    if (isNotFound(err)) {
      throw new BerthError(
        "NotFound",
        `exec ${execId} of task ${id} not found: see 'berthctl tasks ps ${id}'`,
      );
    }
    throw err;
  }
}

async function forceStopExec(ctx: CommandContext, id: string, execId: string): Promise<void> {
  const conn = ctx.connect();
  await conn.tasks
    .kill({ containerId: id, execId, signal: 9, all: false }, { signal: ctx.signal })
    .catch(() => undefined);
  await conn.tasks.wait({ containerId: id, execId }, { signal: ctx.signal }).catch(() => undefined);
}
