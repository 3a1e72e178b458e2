// Rebuilding berth-cri's view from the daemon at start: sandboxes and containers from
// their records' extensions, their state from the tasks, and the log copies of running
// containers reattached to the FIFOs the shims still hold.

import { Status as TaskStatus } from "@berth/api/containerd/types/task/task";
import type { Cri } from "./cri.js";
import { CriLogFile } from "./io/cri-log.js";
import { existingFifoSet, openReaderNow } from "./io/fifo.js";
import { OutputFanOut } from "./io/output-fanout.js";
import { isCriLogUri } from "./io/shim-log.js";
import { handleContainerExit, handleSandboxExit } from "./runtime/exit.js";
import { closeStreams, copyOutput, fifoDir } from "./runtime/start-container.js";
import { deleteTask, getTask } from "./runtime/task.js";
import {
  KIND_CONTAINER,
  KIND_LABEL,
  KIND_SANDBOX,
  decodeContainerMetadata,
  decodeContainerStatus,
  decodeSandboxMetadata,
} from "./store/records.js";
import { type Container, containerState, newContainer } from "./store/stores.js";

export async function recover(cri: Cri): Promise<void> {
  const { containers } = await cri.containerd.containers.list({ filters: [] });
  const exited: Array<() => Promise<void>> = [];
  for (const record of containers) {
    if (record.labels[KIND_LABEL] !== KIND_SANDBOX) continue;
    const meta = decodeSandboxMetadata(record);
    if (meta === undefined) {
      cri.log.warn("skipping a sandbox record without berth-cri metadata", { id: record.id });
      continue;
    }
    const p = await getTask(cri, meta.id);
    const running = p !== undefined && (p.status === TaskStatus.RUNNING || p.status === TaskStatus.PAUSED);
    const sandbox = {
      meta,
      state: running ? ("ready" as const) : ("notready" as const),
      pid: running ? p.pid : 0,
    };
    cri.names.reserve(meta.name, meta.id);
    cri.sandboxes.add(sandbox);
    if (!running && p !== undefined) exited.push(() => handleSandboxExit(cri, sandbox));
  }
  for (const record of containers) {
    if (record.labels[KIND_LABEL] !== KIND_CONTAINER) continue;
    const meta = decodeContainerMetadata(record);
    if (meta === undefined) {
      cri.log.warn("skipping a container record without berth-cri metadata", { id: record.id });
      continue;
    }
    const c = newContainer(meta, decodeContainerStatus(record));
    cri.names.reserve(meta.name, meta.id);
    cri.containers.add(c);
    const state = containerState(c);
    const p = await getTask(cri, meta.id);
    if (state === "created") {
      // berth-cri stopped in the middle of StartContainer: the task never got its log reader.
      if (p !== undefined) await deleteTask(cri, meta.id);
      continue;
    }
    if (state !== "running") continue;
    if (p === undefined) {
      exited.push(() => handleContainerExit(cri, c, undefined));
      continue;
    }
    // A log the shim writes itself (cri-log://) needs nothing from us; FIFOs do.
    if (!isCriLogUri(p.stdout)) await reattachIo(cri, c);
    if (p.status === TaskStatus.STOPPED) {
      exited.push(() => handleContainerExit(cri, c, { exitStatus: p.exitStatus, exitedAt: p.exitedAt }));
    }
  }
  // Exits found now are recorded once everything is indexed, side by side: each may wait
  // a moment for the output its shim left in the FIFOs.
  await Promise.all(exited.map((handle) => handle()));
  cri.log.info("recovered state from the daemon", {
    sandboxes: cri.sandboxes.list().length,
    containers: cri.containers.list().length,
  });
}

async function reattachIo(cri: Cri, c: Container): Promise<void> {
  const id = c.meta.id;
  // The stdin FIFO's writer we held died with the old berth-cri, and runc's shim has
  // closed the container's stdin on that EOF: attach can no longer write to it.
  const fifos = existingFifoSet(fifoDir(cri.config.state, id), id, {
    stdin: false,
    terminal: c.meta.config.tty,
  });
  try {
    const log = await CriLogFile.open(c.meta.logPath, cri.config.maxContainerLogLineSize);
    const stdout = await openReaderNow(fifos.stdout);
    const stderr = fifos.stderr !== "" ? await openReaderNow(fifos.stderr) : undefined;
    const output = new OutputFanOut();
    c.io = {
      fifos,
      log,
      output,
      done: copyOutput(log, output, { stdout, stderr }),
      close: () => closeStreams(stdout, stderr),
    };
  } catch (err) {
    cri.log.warn("cannot reattach to a running container's output; its log stops here", {
      id,
      error: String(err),
    });
  }
}
