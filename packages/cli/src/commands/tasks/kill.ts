// berthctl tasks kill: signal a task (its init process, one exec, or every process).

import { BerthError, isNotFound } from "@berth/client";
import { STOP_SIGNAL_LABEL, Status, killTask, parseSignal } from "@berth/client/tasks/index";
import { type Command, UsageError, parseOptions } from "../../command.js";
import { loadContainer, loadTask, singleId } from "./lookup.js";

export const killCommand: Command = {
  name: "kill",
  summary: "signal a task (default: the image's stop signal, else SIGTERM)",
  synopsis: "[-s SIGNAL] [-a] [--exec-id EID] ID",
  help: [
    "-s, --signal SIGNAL   signal name or number: SIGKILL, KILL, 9 …",
    "-a, --all             signal every process in the container",
    "--exec-id EID         signal this exec process instead of the init process",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        signal: { type: "string", short: "s" },
        all: { type: "boolean", short: "a" },
        "exec-id": { type: "string" },
      },
      "tasks kill",
    );
    const id = singleId(positionals, "tasks kill");
    const execId = values["exec-id"] ?? "";
    const all = values.all === true;
    if (all && execId !== "") throw new UsageError("--all and --exec-id cannot be used together: pick one");
    let signal: number;
    try {
      signal = parseSignal(values.signal ?? "SIGTERM");
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const conn = ctx.connect();
    const task = await loadTask(conn, id, ctx.signal);
    if (values.signal === undefined) {
      const label = (await loadContainer(conn, id, ctx.signal)).labels[STOP_SIGNAL_LABEL];
      if (label !== undefined && label !== "") signal = parseSignal(label);
    }
    if (execId === "" && task.status === Status.STOPPED) {
      throw new BerthError(
        "FailedPrecondition",
        `task ${id} has already exited (code ${task.exitStatus}): remove it with 'berthctl tasks rm ${id}'`,
      );
    }
    try {
      await killTask(conn, id, signal, { all, execId, signal: ctx.signal });
    } catch (err) {
      if (isNotFound(err) && execId !== "") {
        throw new BerthError(
          "NotFound",
          `exec ${execId} of task ${id} not found or already exited: see 'berthctl tasks ps ${id}'`,
        );
      }
      throw err;
    }
  },
};
