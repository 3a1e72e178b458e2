// Attach to a running container: its output from now on, the client's input into the
// container's stdin FIFO when it has one, and terminal resizes to the container's init
// process. The output comes from where it is read: berth-cri's own FIFO readers (any
// shim but Berth's, and every container without a log path) hand each chunk over as it
// is read (io/output-fanout.ts); when Berth's shim writes the CRI log itself, the log is
// followed (log-follower.ts). It ends when the container exits, the client goes away or,
// as containerd's does, when the client ends its input (unless that closes the
// container's stdin: stdin_once without a terminal); the container keeps running when the
// client leaves. See docs/berth-cri.md, "Attach".

import { statSync } from "node:fs";
import type net from "node:net";
import type { Writable } from "node:stream";
import { errorMessage } from "@berth/client";
import type { Cri } from "../cri.js";
import { openFifoWriter, stdinFifoPath } from "../io/fifo.js";
import { within } from "../runtime/exec-process.js";
import { fifoDir } from "../runtime/start-container.js";
import { type ContainerState, containerState } from "../store/stores.js";
import { ResizeQueue, endWithin } from "./exec-session.js";
import { CriLogFollower, entryBytes } from "./log-follower.js";
import type { RemoteCommandStreams } from "./remote-command.js";
import type { RemoteCommandResult } from "./status.js";

const OUTPUT_FLUSH_MS = 2_000;
/** Bytes queued for a client beyond which its output is dropped until it catches up. */
const CLIENT_BACKLOG = 4 << 20;
/**
 * When the client's input ends, its answer may still be on its way (through the log a
 * moment later, when Berth's shim writes it): the session ends once the container's
 * output has been quiet this long, or after DETACH_MAX_MS at most.
 */
const DETACH_QUIET_MS = 1_000;
const DETACH_MAX_MS = 5_000;

/** containerd's wording for attach to a container that does not run. */
export function notRunningMessage(id: string, state: ContainerState): string {
  return `container ${id} is in CONTAINER_${state.toUpperCase()} state: only a running container can be attached to`;
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

export async function runAttach(
  cri: Cri,
  containerId: string,
  io: RemoteCommandStreams,
): Promise<RemoteCommandResult> {
  const log = cri.log.child({ module: "streaming", call: "attach" });
  const c = cri.containers.find(containerId);
  if (c === undefined) return { kind: "error", message: `container ${containerId} not found` };
  const state = containerState(c);
  if (state !== "running") return { kind: "error", message: notRunningMessage(c.meta.id, state) };
  const id = c.meta.id;
  const config = c.meta.config;
  if (c.io === undefined && c.meta.logPath === "") {
    return {
      kind: "error",
      message: `container ${id}'s output is read by nobody in berth-cri (berth-cri could not reopen its FIFOs after a restart): cannot attach to it`,
    };
  }

  let stdin: net.Socket | undefined;
  let inputEnded: () => void = () => {};
  const detached = new Promise<"detached">((resolve) => {
    inputEnded = () => resolve("detached");
  });
  if (io.stdin !== undefined) {
    if (!config.stdin) {
      // The container takes no input (stdin: false in its config): what the client types is dropped.
      io.stdin.resume();
    } else {
      // Made by StartContainer for a container with stdin; Berth's shim writes the output
      // itself, so there may be no other FIFO (and no c.io) at all.
      const fifo = stdinFifoPath(fifoDir(cri.config.state, id), id);
      if (!isFifo(fifo)) {
        return {
          kind: "error",
          message: `container ${id} was started without a stdin pipe: cannot attach its stdin`,
        };
      }
      try {
        stdin = await openFifoWriter(fifo, true);
      } catch (err) {
        return { kind: "error", message: `cannot open the stdin of container ${id}: ${errorMessage(err)}` };
      }
      stdin.once("finish", () => {
        // stdin_once (without a terminal, as kubelet has it): the first client to close
        // stdin closes it for the container: our writer on the FIFO, then the shim's.
        // Otherwise the client's end of input detaches it.
        if (!config.stdinOnce || config.tty) {
          inputEnded();
          return;
        }
        c.io?.closeStdin?.();
        cri.containerd.tasks.closeIO({ containerId: id, execId: "", stdin: true }).catch((err) => {
          log.debug("closing container stdin failed", { id, error: errorMessage(err) });
        });
      });
    }
  }

  const resizes = new ResizeQueue((err) =>
    log.debug("terminal resize failed", { id, error: errorMessage(err) }),
  );
  if (config.tty) {
    io.onResize((size) => resizes.push(size));
    resizes.start((s) =>
      cri.containerd.tasks.resizePty({ containerId: id, execId: "", width: s.width, height: s.height }),
    );
  }

  const targets: Record<"stdout" | "stderr", Writable | undefined> = {
    stdout: io.stdout,
    // A terminal has one stream; without one, stderr goes where the client asked.
    stderr: config.tty ? io.stdout : io.stderr,
  };
  let lastOutput = 0;
  const deliver = (stream: "stdout" | "stderr", bytes: Buffer) => {
    lastOutput = Date.now();
    const to = targets[stream];
    // A client that does not read is not waited for: the container must not be.
    if (to !== undefined && !to.destroyed && to.writableLength < CLIENT_BACKLOG) to.write(bytes);
  };
  const live = c.io?.output;
  const unsubscribe = live?.subscribe(deliver);
  const follower =
    live === undefined
      ? new CriLogFollower(c.meta.logPath, (entry) => deliver(entry.stream, entryBytes(entry, config.tty)))
      : undefined;
  await follower?.start();
  // Input only once output is followed, so that the answer to it is not missed.
  if (stdin !== undefined) io.stdin?.pipe(stdin);
  log.debug("attached", { id });
  try {
    const gone = new Promise<"gone">((resolve) => {
      if (io.gone.aborted) resolve("gone");
      else io.gone.addEventListener("abort", () => resolve("gone"), { once: true });
    });
    const exited = c.exited.then(() => "exited" as const);
    let how = await Promise.race([exited, gone, detached]);
    if (how === "detached") how = await Promise.race([exited, gone, outputQuiet(() => lastOutput)]);
    if (how === "gone") return { kind: "error", message: "the client went away" };
    if (how === "exited") {
      // The last lines may reach the log just after the exit.
      await within(
        (c.io?.done ?? Promise.resolve()).then(() => c.io?.log.flushed()),
        OUTPUT_FLUSH_MS,
      );
    }
    await follower?.stop(true);
    await Promise.all([endWithin(io.stdout, OUTPUT_FLUSH_MS), endWithin(io.stderr, OUTPUT_FLUSH_MS)]);
    return { kind: "success" };
  } finally {
    unsubscribe?.();
    await follower?.stop(false);
    if (stdin !== undefined) {
      io.stdin?.unpipe(stdin);
      stdin.destroy();
    }
  }
}

/** Resolves once no output has come for DETACH_QUIET_MS since now (DETACH_MAX_MS at most). */
async function outputQuiet(lastOutput: () => number): Promise<"detached"> {
  const ended = Date.now();
  while (Date.now() - Math.max(lastOutput(), ended) < DETACH_QUIET_MS && Date.now() - ended < DETACH_MAX_MS) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return "detached";
}
