// berthctl containers rm: delete containers whose task has stopped (or that have none),
// with their own rootfs snapshot.

import { BerthError, errorMessage, isNotFound } from "@berth/client";
import { Status, deleteTask, getTask, removeContainer, statusName } from "@berth/client/tasks/index";
import { type Command, type CommandContext, ReportedError, UsageError, parseOptions } from "../../command.js";
import { loadContainer } from "../tasks/lookup.js";

export const removeCommand: Command = {
  name: "rm",
  aliases: ["remove", "delete", "del"],
  summary: "remove containers and their rootfs snapshots",
  synopsis: "[--keep-snapshot] ID...",
  help: ["--keep-snapshot       leave the container's rootfs snapshot in place"],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { "keep-snapshot": { type: "boolean" } },
      "containers rm",
    );
    if (positionals.length === 0) {
      throw new UsageError("containers rm needs at least one container: berthctl containers rm ID...");
    }
    let failed = false;
    for (const id of positionals) {
      try {
        await removeOne(ctx, id, values["keep-snapshot"] === true);
      } catch (err) {
        if (positionals.length === 1) throw err;
        ctx.stderr.write(`berthctl: ${errorMessage(err)}\n`);
        failed = true;
      }
    }
    if (failed) throw new ReportedError(1);
  },
};

async function removeOne(ctx: CommandContext, id: string, keepSnapshot: boolean): Promise<void> {
  const conn = ctx.connect();
  const container = await loadContainer(conn, id, ctx.signal);
  try {
    const task = await getTask(conn, id, { signal: ctx.signal });
    if (task.status !== Status.STOPPED && task.status !== Status.CREATED) {
      throw new BerthError(
        "FailedPrecondition",
        `container ${id} has a ${statusName(task.status).toLowerCase()} task: stop it with 'berthctl tasks kill ${id}' first`,
      );
    }
    await deleteTask(conn, id, { signal: ctx.signal });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await removeContainer(conn, container, { keepSnapshot, signal: ctx.signal });
}
