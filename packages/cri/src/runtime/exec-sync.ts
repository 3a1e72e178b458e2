// ExecSync: a process in the container with the container's process settings but the
// given argv, stdout and stderr collected apart through FIFOs, its exit code returned.
// When the timeout passes the process is killed and the call fails with
// DeadlineExceeded, which kubelet reads as a probe timeout.

import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { ExecSyncRequest, ExecSyncResponse } from "@berth/api/cri/runtime/v1/api";
import { BerthError, failedPrecondition, invalidArgument, isNotFound } from "@berth/client";
import type { Spec } from "@berth/client/oci/index";
import type { Cri } from "../cri.js";
import { createFifoSet, openReaderWaiting, removeFifoSet } from "../io/fifo.js";
import { containerState } from "../store/stores.js";
import { SIGKILL } from "./task.js";

const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/** Output beyond this is dropped (probes only look at a few KiB). */
const MAX_OUTPUT_BYTES = 16 << 20;
/** How long output may trail the process's exit. */
const OUTPUT_DRAIN_MS = 2_000;

class Collector {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  add(chunk: Buffer): void {
    if (this.bytes >= MAX_OUTPUT_BYTES) return;
    const room = MAX_OUTPUT_BYTES - this.bytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.bytes += part.length;
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function collect(stream: Readable, into: Collector): Promise<void> {
  return new Promise((resolve) => {
    stream.on("data", (chunk: Buffer) => into.add(chunk));
    stream.once("end", resolve);
    stream.once("close", resolve);
    // A pipe starts reading when it is opened: an empty stream may have ended already.
    if (stream.readableEnded || stream.destroyed) resolve();
  });
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function execSync(
  cri: Cri,
  req: ExecSyncRequest,
  signal: AbortSignal,
): Promise<ExecSyncResponse> {
  const c = cri.containers.get(req.containerId);
  if (req.cmd.length === 0) throw invalidArgument("exec command must not be empty");
  if (containerState(c) !== "running") {
    throw failedPrecondition(`container ${c.meta.id} is not running: cannot exec in it`);
  }
  const record = (await cri.containerd.containers.get({ id: c.meta.id })).container;
  if (record?.spec === undefined)
    throw failedPrecondition(`container ${c.meta.id} has no spec in the daemon`);
  const spec = JSON.parse(Buffer.from(record.spec.value).toString("utf8")) as Spec;
  const processSpec = { ...spec.process, args: [...req.cmd], terminal: false };

  const execId = randomBytes(32).toString("hex");
  const fifos = await createFifoSet(join(cri.config.state, "exec", execId), execId, {
    stdin: false,
    terminal: false,
  });
  const stdout = openReaderWaiting(fifos.stdout);
  const stderr = openReaderWaiting(fifos.stderr);
  const out = new Collector();
  const err = new Collector();
  let added = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    await cri.containerd.tasks.exec({
      containerId: c.meta.id,
      execId,
      stdin: "",
      stdout: fifos.stdout,
      stderr: fifos.stderr,
      terminal: false,
      spec: { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(processSpec)) },
    });
    added = true;
    const timeoutMs = Number(req.timeout) * 1000;
    // A timer of our own, not AbortSignal.timeout(): Node 20 may collect a timeout signal
    // that only AbortSignal.any() refers to, and then the deadline never came.
    const expiry = new AbortController();
    if (timeoutMs > 0) timer = setTimeout(() => expiry.abort(new Error("exec timeout")), timeoutMs);
    const deadline = timeoutMs > 0 ? AbortSignal.any([signal, expiry.signal]) : signal;
    // The wait is in flight before start, so even an instant exit is seen.
    const waiting = cri.containerd.tasks.wait({ containerId: c.meta.id, execId }, { signal: deadline });
    waiting.catch(() => undefined);
    await cri.containerd.tasks.start({ containerId: c.meta.id, execId });
    const [o, e] = await Promise.all([stdout.stream, stderr.stream]);
    const ended = Promise.all([collect(o, out), collect(e, err)]);
    let exitCode: number;
    try {
      exitCode = (await waiting).exitStatus;
    } catch (waitErr) {
      if (!deadline.aborted || signal.aborted) throw waitErr;
      await cri.containerd.tasks
        .kill({ containerId: c.meta.id, execId, signal: SIGKILL, all: false })
        .catch(() => undefined);
      await cri.containerd.tasks
        .wait({ containerId: c.meta.id, execId }, { signal: AbortSignal.timeout(5_000) })
        .catch(() => undefined);
      throw new BerthError(
        "DeadlineExceeded",
        `timeout ${req.timeout}s exceeded running ${JSON.stringify(req.cmd)} in ${c.meta.id}`,
      );
    }
    if ((await bounded(ended, OUTPUT_DRAIN_MS)) === undefined) {
      await deleteExec(cri, c.meta.id, execId);
      added = false;
      await bounded(ended, OUTPUT_DRAIN_MS);
      o.destroy();
      e.destroy();
    }
    return { stdout: out.data, stderr: err.data, exitCode };
  } finally {
    clearTimeout(timer);
    stdout.cancel();
    stderr.cancel();
    if (added) await deleteExec(cri, c.meta.id, execId);
    await removeFifoSet(fifos);
  }
}

async function deleteExec(cri: Cri, containerId: string, execId: string): Promise<void> {
  try {
    await cri.containerd.tasks.deleteProcess({ containerId, execId });
  } catch (err) {
    if (!isNotFound(err))
      cri.log.warn("cannot delete an exec process", { containerId, execId, error: String(err) });
  }
}
