// berthctl tasks exec: run another process in a running task's container, like
// `ctr tasks exec`: the container's process settings with a new command line, attached
// to berthctl's streams (or a terminal with -t), exit code passed on.

import { BerthError, isAlreadyExists } from "@berth/client";
import {
  NULL_STDIO,
  Status,
  containerSpec,
  deleteProcess,
  execProcess,
  execProcessSpec,
  startProcess,
  statusName,
} from "@berth/client/tasks/index";
import { openStdio, runAttached } from "../../attach.js";
import { type Command, ReportedError, UsageError, parseLeadingOptions } from "../../command.js";
import { loadContainer, loadTask } from "./lookup.js";

const options = {
  "exec-id": { type: "string" },
  tty: { type: "boolean", short: "t" },
  detach: { type: "boolean", short: "d" },
  cwd: { type: "string" },
  "fifo-dir": { type: "string" },
} as const;

export interface ExecArguments {
  id: string;
  execId: string;
  args: string[];
  tty: boolean;
  detach: boolean;
  cwd: string | undefined;
  fifoDir: string | undefined;
}

export function parseExecArguments(argv: string[]): ExecArguments {
  const { values, positionals } = parseLeadingOptions(argv, options, "tasks exec");
  const [id, ...args] = positionals;
  const execId = values["exec-id"];
  if (execId === undefined || execId === "") {
    throw new UsageError("tasks exec needs --exec-id: berthctl tasks exec --exec-id EID ID COMMAND [ARG...]");
  }
  if (id === undefined || id === "") {
    throw new UsageError("tasks exec needs a task ID: berthctl tasks exec --exec-id EID ID COMMAND [ARG...]");
  }
  if (args.length === 0) {
    throw new UsageError(
      `tasks exec needs a command to run: berthctl tasks exec --exec-id ${execId} ${id} COMMAND [ARG...]`,
    );
  }
  return {
    id,
    execId,
    args,
    tty: values.tty === true,
    detach: values.detach === true,
    cwd: values.cwd,
    fifoDir: values["fifo-dir"],
  };
}

export const execCommand: Command = {
  name: "exec",
  summary: "run another process in a running task",
  synopsis: "[-t] [-d] [--cwd DIR] --exec-id EID ID COMMAND [ARG...]",
  help: [
    "--exec-id EID         name of the new process within the task (required)",
    "-t, --tty             give the process a terminal",
    "-d, --detach          return once the process has started; it gets no stdio",
    "--cwd DIR             working directory (default: the container's)",
    "--fifo-dir DIR        where to make the stdio FIFOs (default /run/berth/fifo)",
    "",
    "Options go before ID; everything after it is the command and its arguments.",
    "berthctl exits with the process's exit code.",
  ],
  leadingOptions: options,
  async run(ctx, argv) {
    const a = parseExecArguments(argv);
    const conn = ctx.connect();
    const task = await loadTask(conn, a.id, ctx.signal);
    const container = await loadContainer(conn, a.id, ctx.signal);
    if (task.status !== Status.RUNNING) {
      throw new BerthError(
        "FailedPrecondition",
        `task ${a.id} is ${statusName(task.status).toLowerCase()}: exec needs a running task (see 'berthctl tasks ls')`,
      );
    }
    const process = execProcessSpec(containerSpec(container), {
      args: a.args,
      tty: a.tty,
      ...(a.cwd !== undefined ? { cwd: a.cwd } : {}),
    });
    const stdio = a.detach
      ? undefined
      : await openStdio(ctx, {
          id: a.execId,
          tty: a.tty,
          ...(a.fifoDir !== undefined ? { fifoDir: a.fifoDir } : {}),
        });
    try {
      await execProcess(conn, a.id, {
        execId: a.execId,
        process,
        stdio: stdio?.paths ?? { ...NULL_STDIO, terminal: a.tty },
        signal: ctx.signal,
      });
    } catch (err) {
      await stdio?.close();
      if (isAlreadyExists(err)) {
        throw new BerthError(
          "AlreadyExists",
          `exec ${a.execId} already exists in task ${a.id}: pick another --exec-id, or remove it with 'berthctl tasks rm --exec-id ${a.execId} ${a.id}'`,
        );
      }
      throw err;
    }
    if (stdio === undefined) {
      await startProcess(conn, a.id, a.execId, { signal: ctx.signal });
      return;
    }
    let code: number;
    try {
      const status = await runAttached(ctx, {
        conn,
        id: a.id,
        execId: a.execId,
        tty: a.tty,
        stdio,
        start: () => startProcess(conn, a.id, a.execId, { signal: ctx.signal }),
      });
      code = status.code;
    } finally {
      await deleteProcess(conn, a.id, a.execId).catch(() => undefined);
    }
    if (code !== 0) throw new ReportedError(code);
  },
};
