// berthctl run: create a container from an image and run its task, like `ctr run`:
// attached (output, stdin, signals, exit code) or detached (-d), with a terminal (-t),
// removed afterwards with --rm.

import { hostname } from "node:os";
import { BerthError, isAlreadyExists, isNotFound } from "@berth/client";
import {
  type Container,
  DEFAULT_RUNTIME,
  type ExitStatus,
  NULL_STDIO,
  createContainer,
  createTask,
  deleteTask,
  getContainer,
  removeContainer,
  startProcess,
  validateContainerId,
  waitForExit,
} from "@berth/client/tasks/index";
import { parseKeyValues, parseSize } from "../arguments.js";
import { openStdio, runAttached } from "../attach.js";
import {
  type Command,
  type CommandContext,
  ReportedError,
  UsageError,
  parseLeadingOptions,
} from "../command.js";

const options = {
  rm: { type: "boolean" },
  detach: { type: "boolean", short: "d" },
  tty: { type: "boolean", short: "t" },
  runtime: { type: "string" },
  snapshotter: { type: "string" },
  env: { type: "string", multiple: true },
  cwd: { type: "string" },
  "net-host": { type: "boolean" },
  "memory-limit": { type: "string" },
  label: { type: "string", multiple: true },
  "null-io": { type: "boolean" },
  "fifo-dir": { type: "string" },
} as const;

export interface RunArguments {
  image: string;
  id: string;
  args: string[];
  rm: boolean;
  detach: boolean;
  tty: boolean;
  runtime: string;
  snapshotter: string | undefined;
  env: string[];
  cwd: string | undefined;
  netHost: boolean;
  memoryLimit: number | undefined;
  labels: Record<string, string>;
  nullIo: boolean;
  fifoDir: string | undefined;
}

/** The command line of `berthctl run`, checked. */
export function parseRunArguments(argv: string[]): RunArguments {
  const { values, positionals } = parseLeadingOptions(argv, options, "run");
  const [image, id, ...args] = positionals;
  if (image === undefined || image === "") {
    throw new UsageError("run needs an image and a container ID: berthctl run IMAGE ID [COMMAND [ARG...]]");
  }
  if (id === undefined || id === "") {
    throw new UsageError(
      `run needs a container ID after the image: berthctl run ${image} ID [COMMAND [ARG...]]`,
    );
  }
  const rm = values.rm === true;
  const detach = values.detach === true;
  if (rm && detach) throw new UsageError("--rm and --detach cannot be used together: pick one");
  if (values["null-io"] === true && values.tty === true) {
    throw new UsageError("--null-io and --tty cannot be used together: pick one");
  }
  return {
    image,
    id,
    args,
    rm,
    detach,
    tty: values.tty === true,
    runtime: values.runtime ?? DEFAULT_RUNTIME,
    snapshotter: values.snapshotter,
    env: values.env ?? [],
    cwd: values.cwd,
    netHost: values["net-host"] === true,
    memoryLimit:
      values["memory-limit"] !== undefined ? parseSize(values["memory-limit"], "--memory-limit") : undefined,
    labels: parseKeyValues(values.label ?? [], "--label"),
    nullIo: values["null-io"] === true,
    fifoDir: values["fifo-dir"],
  };
}

export const runCommand: Command = {
  name: "run",
  summary: "run a container from an image",
  synopsis: "[options] IMAGE ID [COMMAND [ARG...]]",
  help: [
    "--rm                  remove the container (and its snapshot) when it exits",
    "-d, --detach          return once the task has started; it gets no stdio",
    "-t, --tty             give the process a terminal (raw mode here, resizes passed on)",
    `--runtime NAME        ${DEFAULT_RUNTIME} (default) or io.containerd.runc.v2`,
    "--snapshotter NAME    snapshotter for the rootfs (default overlayfs)",
    "--env KEY=VALUE       set an environment variable (repeatable)",
    "--cwd DIR             working directory of the process",
    "--net-host            use the host's network namespace",
    "--memory-limit BYTES  memory limit of the container's cgroup",
    "--label KEY=VALUE     container label, also a spec annotation (repeatable)",
    "--null-io             send all stdio to /dev/null",
    "--fifo-dir DIR        where to make the stdio FIFOs (default /run/berth/fifo)",
    "",
    "Options go before IMAGE; everything after ID is the command and its arguments.",
    "berthctl exits with the container's exit code.",
  ],
  leadingOptions: options,
  async run(ctx, argv) {
    const a = parseRunArguments(argv);
    validateContainerId(a.id);
    const conn = ctx.connect();
    let container: Container;
    try {
      ({ container } = await createContainer(conn, {
        id: a.id,
        image: a.image,
        runtime: a.runtime,
        ...(a.snapshotter !== undefined ? { snapshotter: a.snapshotter } : {}),
        labels: a.labels,
        signal: ctx.signal,
        spec: {
          args: a.args,
          env: a.env,
          ...(a.cwd !== undefined ? { cwd: a.cwd } : {}),
          tty: a.tty,
          netHost: a.netHost,
          ...(a.netHost ? { hostname: hostname() } : {}),
          ...(a.memoryLimit !== undefined ? { memoryLimit: a.memoryLimit } : {}),
          cpuShares: 1024,
          annotations: a.labels,
        },
      }));
    } catch (err) {
      throw explainCreateError(err, a);
    }

    if (a.detach) {
      await createTask(conn, container, { ...NULL_STDIO, terminal: a.tty }, { signal: ctx.signal });
      await startProcess(conn, a.id, "", { signal: ctx.signal });
      return;
    }

    let code: number;
    try {
      code = await runInForeground(ctx, container, a);
    } finally {
      if (a.rm) await removeQuietly(ctx, a.id);
    }
    if (code !== 0) throw new ReportedError(code);
  },
};

async function runInForeground(ctx: CommandContext, container: Container, a: RunArguments): Promise<number> {
  const conn = ctx.connect();
  const stdio = a.nullIo
    ? undefined
    : await openStdio(ctx, {
        id: a.id,
        tty: a.tty,
        ...(a.fifoDir !== undefined ? { fifoDir: a.fifoDir } : {}),
      });
  try {
    await createTask(conn, container, stdio?.paths ?? NULL_STDIO, { signal: ctx.signal });
  } catch (err) {
    await stdio?.close();
    throw err;
  }
  let exited = false;
  try {
    const start = () => startProcess(conn, a.id, "", { signal: ctx.signal });
    let status: ExitStatus;
    if (stdio !== undefined) {
      status = await runAttached(ctx, { conn, id: a.id, execId: "", tty: a.tty, stdio, start });
    } else {
      const wait = waitForExit(conn, a.id, "", ctx.signal);
      try {
        await start();
        status = await wait.exited;
      } finally {
        wait.cancel();
      }
    }
    exited = true;
    return status.code;
  } finally {
    // Like ctr, the task goes once it has exited; one left running by a failure is killed.
    await deleteTask(conn, a.id, { force: !exited }).catch(() => undefined);
  }
}

/** --rm: the task is gone by now; the container and its snapshot go too, whatever happened. */
async function removeQuietly(ctx: CommandContext, id: string): Promise<void> {
  const conn = ctx.connect();
  try {
    await removeContainer(conn, await getContainer(conn, id));
  } catch (err) {
    if (isNotFound(err)) return;
    ctx.stderr.write(
      `berthctl: could not remove container ${id}: ${err instanceof Error ? err.message : String(err)}: remove it with 'berthctl containers rm ${id}'\n`,
    );
  }
}

function explainCreateError(err: unknown, a: RunArguments): unknown {
  if (isAlreadyExists(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return new BerthError(
      "AlreadyExists",
      message.startsWith("a snapshot")
        ? `${message}: pick another ID, or remove the snapshot`
        : `container ${a.id} already exists: remove it with 'berthctl containers rm ${a.id}', or pick another ID`,
    );
  }
  if (isNotFound(err) && err instanceof Error && err.message.startsWith("image ")) {
    return new BerthError("NotFound", `${err.message}: pull it first with 'berthctl images pull ${a.image}'`);
  }
  return err;
}
