// ExecSync: a process in the container with the container's process settings but the
// given argv, stdout and stderr collected apart through FIFOs, its exit code returned.
// When the timeout passes the process is killed and the call fails with
// DeadlineExceeded, which kubelet reads as a probe timeout.

import type { Readable } from "node:stream";
import type { ExecSyncRequest, ExecSyncResponse } from "@berth/api/cri/runtime/v1/api";
import { BerthError, failedPrecondition, invalidArgument } from "@berth/client";
import type { Cri } from "../cri.js";
import { containerState } from "../store/stores.js";
import { containerProcess, execProcessSpec, runExecProcess, within } from "./exec-process.js";

/** Output beyond this is dropped (probes only look at a few KiB). */
const MAX_OUTPUT_BYTES = 16 << 20;
/** How long output may trail the process's exit. */
const OUTPUT_DRAIN_MS = 2_000;
/** How long a process killed at the deadline may take to be reported gone. */
const KILL_WAIT_MS = 5_000;

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
  const base = await containerProcess(cri, c.meta.id);
  if (base === undefined) throw failedPrecondition(`container ${c.meta.id} has no spec in the daemon`);
  const timeoutMs = Number(req.timeout) * 1000;
  // A timer of our own, not AbortSignal.timeout(): Node 20 may collect a timeout signal
  // that only AbortSignal.any() refers to, and then the deadline never came.
  const expiry = new AbortController();
  const timer =
    timeoutMs > 0 ? setTimeout(() => expiry.abort(new Error("exec timeout")), timeoutMs) : undefined;
  const deadline = timeoutMs > 0 ? AbortSignal.any([signal, expiry.signal]) : signal;
  try {
    return await runExecProcess(
      cri,
      {
        containerId: c.meta.id,
        spec: execProcessSpec(base, req.cmd, false),
        tty: false,
        stdin: false,
        signal: deadline,
      },
      async (p) => {
        const out = new Collector();
        const err = new Collector();
        const ended = Promise.all([collect(p.stdout, out), p.stderr && collect(p.stderr, err)]);
        let exitCode: number;
        try {
          exitCode = await p.exited;
        } catch (waitErr) {
          if (!deadline.aborted || signal.aborted) throw waitErr;
          await p.kill(KILL_WAIT_MS);
          throw new BerthError(
            "DeadlineExceeded",
            `timeout ${req.timeout}s exceeded running ${JSON.stringify(req.cmd)} in ${c.meta.id}`,
          );
        }
        if ((await within(ended, OUTPUT_DRAIN_MS)) === undefined) {
          // Output still open after the exit (a child kept it): the shim lets go of it once
          // the process is deleted.
          await p.delete();
          await within(ended, OUTPUT_DRAIN_MS);
          p.stdout.destroy();
          p.stderr?.destroy();
        }
        return { stdout: out.data, stderr: err.data, exitCode };
      },
    );
  } finally {
    clearTimeout(timer);
  }
}
