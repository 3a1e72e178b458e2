// StartContainer: the task, with its output going to the CRI log file, then started. With
// Berth's shim the shim writes the log itself (io/shim-log.ts); with other runtimes the
// task's stdout and stderr are FIFOs berth-cri reads into the log. A container that fails
// to start is recorded as exited with reason StartError, as containerd does.

import { closeSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import {
  ContainerEventType,
  type StartContainerRequest,
  type StartContainerResponse,
} from "@berth/api/cri/runtime/v1/api";
import { errorMessage, failedPrecondition } from "@berth/client";
import type { Cri } from "../cri.js";
import { CriLogFile } from "../io/cri-log.js";
import {
  type FifoSet,
  type PendingReader,
  createFifoSet,
  createStdinFifo,
  holdStdinFifo,
  openReaderWaiting,
  removeFifoSet,
} from "../io/fifo.js";
import { OutputFanOut } from "../io/output-fanout.js";
import { criLogUri, shimWritesLog } from "../io/shim-log.js";
import { nowNs } from "../store/records.js";
import { type Container, type ContainerIO, containerState } from "../store/stores.js";
import { Cleanup, snapshotMounts } from "./containerd-records.js";
import { deleteTask } from "./task.js";

/** containerd's exit code and reason for a container whose task could not be started. */
const START_ERROR_EXIT_CODE = 128;
const START_ERROR_REASON = "StartError";

export function fifoDir(state: string, id: string): string {
  return join(state, "containers", id, "io");
}

/** Copies the FIFOs' output into the log and to `output`'s subscribers; resolves when both streams have ended. */
export function copyOutput(
  log: CriLogFile,
  output: OutputFanOut,
  streams: { stdout?: Readable; stderr?: Readable },
): Promise<void> {
  output.tap(streams.stdout, "stdout");
  output.tap(streams.stderr, "stderr");
  const copies: Promise<void>[] = [];
  if (streams.stdout !== undefined) copies.push(log.copy(streams.stdout, "stdout"));
  if (streams.stderr !== undefined) copies.push(log.copy(streams.stderr, "stderr"));
  return Promise.all(copies).then(() => undefined);
}

export function closeStreams(...streams: Array<Readable | undefined>): void {
  for (const s of streams) s?.destroy();
}

export async function startContainer(cri: Cri, req: StartContainerRequest): Promise<StartContainerResponse> {
  const c = cri.containers.get(req.containerId);
  return cri.locks.run(c.meta.id, () => start(cri, c));
}

/** Where a task's output goes, and what berth-cri does about it once the task has started. */
interface TaskOutput {
  stdio: { stdin: string; stdout: string; stderr: string; terminal: boolean };
  /** After the start: berth-cri's copy into the log, or undefined when the shim writes it. */
  attach(): Promise<ContainerIO | undefined>;
}

/**
 * Berth's shim writes the log: one URI for both streams (a terminal has only stdout). A
 * container with stdin gets a FIFO that attach writes to; the shim holds a writer on it
 * itself, so the container's input ends only with CloseIO.
 */
async function shimLogOutput(cri: Cri, c: Container, cleanup: Cleanup): Promise<TaskOutput> {
  const id = c.meta.id;
  const uri = criLogUri(c.meta.logPath, cri.config.maxContainerLogLineSize);
  const terminal = c.meta.config.tty;
  let stdin = "";
  if (c.meta.config.stdin) {
    const dir = fifoDir(cri.config.state, id);
    cleanup.add("remove FIFOs", () => rm(dir, { recursive: true, force: true }));
    stdin = await createStdinFifo(dir, id);
  }
  return {
    stdio: { stdin, stdout: uri, stderr: terminal ? "" : uri, terminal },
    attach: async () => undefined,
  };
}

/** FIFOs berth-cri reads into the log and attach's fan-out (any other runtime, or no log path: nothing logged). */
async function fifoOutput(cri: Cri, c: Container, cleanup: Cleanup): Promise<TaskOutput> {
  const id = c.meta.id;
  const log = await CriLogFile.open(c.meta.logPath, cri.config.maxContainerLogLineSize);
  cleanup.add("close log", () => log.close());
  const fifos: FifoSet = await createFifoSet(fifoDir(cri.config.state, id), id, {
    stdin: c.meta.config.stdin,
    terminal: c.meta.config.tty,
  });
  cleanup.add("remove FIFOs", () => removeFifoSet(fifos));
  // Our writer on the stdin FIFO, from before the shim opens it: clients that attach come
  // and go, and the container's input ends only with CloseIO (stdin_once) or its exit.
  let stdinHold: number | undefined;
  const closeStdin = () => {
    if (stdinHold !== undefined) closeSync(stdinHold);
    stdinHold = undefined;
  };
  if (fifos.stdin !== "") {
    stdinHold = holdStdinFifo(fifos.stdin);
    cleanup.add("close stdin", async () => closeStdin());
  }
  const readers: PendingReader[] = [];
  const stdout = openReaderWaiting(fifos.stdout);
  readers.push(stdout);
  const stderr = fifos.stderr !== "" ? openReaderWaiting(fifos.stderr) : undefined;
  if (stderr !== undefined) readers.push(stderr);
  cleanup.add("stop waiting for FIFO writers", async () => {
    for (const r of readers) r.cancel();
  });
  return {
    stdio: { stdin: fifos.stdin, stdout: fifos.stdout, stderr: fifos.stderr, terminal: fifos.terminal },
    // The shim may open its ends at create or at start: wait for them after start.
    attach: async () => {
      const [out, err] = await Promise.all([stdout.stream, stderr?.stream]);
      const output = new OutputFanOut();
      const done = copyOutput(log, output, { stdout: out, stderr: err });
      done.then(() => cri.log.debug("container output ended", { id }));
      return {
        fifos,
        log,
        output,
        done,
        close: () => {
          closeStreams(out, err);
          closeStdin();
        },
        closeStdin,
      };
    },
  };
}

async function start(cri: Cri, c: Container): Promise<StartContainerResponse> {
  const id = c.meta.id;
  const state = containerState(c);
  if (state !== "created")
    throw failedPrecondition(`container ${id} is in ${state} state: only a created container can be started`);
  const sandbox = cri.sandboxes.find(c.meta.sandboxId);
  if (sandbox === undefined || sandbox.state !== "ready") {
    throw failedPrecondition(`sandbox ${c.meta.sandboxId} of container ${id} is not ready`);
  }
  const cleanup = new Cleanup(cri);
  try {
    const record = (await cri.containerd.containers.get({ id })).container;
    const output =
      shimWritesLog(record?.runtime?.name) && c.meta.logPath !== ""
        ? await shimLogOutput(cri, c, cleanup)
        : await fifoOutput(cri, c, cleanup);
    const rootfs = await snapshotMounts(cri, id);
    const created = await cri.containerd.tasks.create({ containerId: id, rootfs, ...output.stdio });
    cleanup.add("delete task", () => deleteTask(cri, id));
    const startedAt = nowNs();
    await cri.containerd.tasks.start({ containerId: id, execId: "" });
    c.io = await output.attach();
    // An exit already handled (a quick process) keeps its finish time; the start is before it.
    c.status = {
      ...c.status,
      pid: c.status.finishedAt === 0n ? created.pid : 0,
      startedAt:
        c.status.finishedAt === 0n || startedAt <= c.status.finishedAt ? startedAt : c.status.finishedAt,
    };
    cleanup.clear();
    await cri.persistStatus(c);
    cri.publishContainerEvent(id, ContainerEventType.CONTAINER_STARTED_EVENT);
    cri.log.info("container started", { id, pid: created.pid });
    return {};
  } catch (err) {
    await cleanup.run();
    if (c.status.finishedAt === 0n) {
      c.status = {
        ...c.status,
        pid: 0,
        finishedAt: nowNs(),
        exitCode: START_ERROR_EXIT_CODE,
        reason: START_ERROR_REASON,
        message: errorMessage(err),
      };
      c.markExited();
      await cri.persistStatus(c).catch(() => undefined);
    }
    throw err;
  }
}
