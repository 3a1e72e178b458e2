// berthctl's own streams, terminal and signals attached to a container process (a task's
// init process or an exec) from Start to exit, as `ctr run` and `ctr tasks exec` do:
// output copied out, stdin copied in (its end closes the process's stdin), signals
// forwarded, and with a terminal: raw mode, resizes passed on, the terminal restored.

import { constants } from "node:os";
import { type Connection, errorMessage } from "@berth/client";
import {
  type ExitStatus,
  ProcessStdio,
  closeStdin,
  killTask,
  resizePty,
  waitForExit,
} from "@berth/client/tasks/index";
import type { CommandContext } from "./command.js";
import { UsageError } from "./command.js";

/** How long output may keep arriving after the process has exited. */
const DRAIN_MS = 2_000;

export interface StdioRequest {
  /** Names the FIFOs (<id>-stdout …). */
  id: string;
  tty: boolean;
  fifoDir?: string;
}

/** FIFOs connected to berthctl's stdin, stdout and stderr (stderr only without a terminal). */
export async function openStdio(ctx: CommandContext, request: StdioRequest): Promise<ProcessStdio> {
  if (request.tty && ctx.stdin?.isTTY !== true) {
    throw new UsageError("-t needs a terminal on stdin: run berthctl from one, or leave out -t");
  }
  return ProcessStdio.open(
    request.id,
    {
      ...(ctx.stdin !== undefined ? { stdin: ctx.stdin } : {}),
      stdout: ctx.stdout,
      ...(request.tty ? {} : { stderr: ctx.stderr }),
    },
    { terminal: request.tty, ...(request.fifoDir !== undefined ? { fifoDir: request.fifoDir } : {}) },
  );
}

export interface AttachedProcess {
  conn: Connection;
  /** Container (task) ID. */
  id: string;
  /** "" for the task's init process. */
  execId: string;
  tty: boolean;
  stdio: ProcessStdio;
  /** Starts the process (Tasks.Start); called once the wait for its exit is in place. */
  start(): Promise<unknown>;
}

/** Starts the process and stays attached until it exits; returns its exit status. */
export async function runAttached(ctx: CommandContext, p: AttachedProcess): Promise<ExitStatus> {
  const { conn, id, execId } = p;
  const wait = waitForExit(conn, id, execId, ctx.signal);
  const cleanups: Array<() => void> = [() => wait.cancel()];
  try {
    if (p.tty && ctx.stdin?.setRawMode !== undefined) {
      const stdin = ctx.stdin;
      stdin.setRawMode?.(true);
      cleanups.push(() => stdin.setRawMode?.(false));
    }
    await p.start();
    if (ctx.signals !== undefined) {
      cleanups.push(
        ctx.signals.forward((name) => {
          const number = constants.signals[name];
          killTask(conn, id, number, { execId }).catch(() => undefined);
        }),
      );
    }
    if (p.tty) {
      const resize = () => {
        const width = ctx.stdout.columns ?? 0;
        const height = ctx.stdout.rows ?? 0;
        if (width > 0 && height > 0) {
          // As ctr's "console resize" error: said, not fatal.
          resizePty(conn, id, execId, { width, height }).catch((err: unknown) =>
            ctx.stderr.write(
              `berthctl: resizing the terminal to ${width}x${height} failed: ${errorMessage(err)}\r\n`,
            ),
          );
        }
      };
      resize();
      if (ctx.signals !== undefined) cleanups.push(ctx.signals.onResize(resize));
    }
    p.stdio.startInput(() => {
      closeStdin(conn, id, execId).catch(() => undefined);
    });
    const status = await wait.exited;
    await p.stdio.drain(DRAIN_MS);
    return status;
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    await p.stdio.close();
  }
}
