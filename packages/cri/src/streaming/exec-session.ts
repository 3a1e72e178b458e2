// An exec through the streaming server: a process in the container with the container's
// process settings and the given argv, on FIFOs (or a terminal) that are joined to the
// client's streams. Resizes go to the daemon's ResizePty, the end of the client's stdin
// to CloseIO. When the client goes away first, the process is killed: nothing is left
// running for nobody.

import type { Readable, Writable } from "node:stream";
import { errorMessage, isNotFound } from "@berth/client";
import type { Logger } from "@berth/client/log";
import type { Cri } from "../cri.js";
import {
  type ExecProcess,
  containerProcess,
  execProcessSpec,
  runExecProcess,
  within,
} from "../runtime/exec-process.js";
import { containerState } from "../store/stores.js";
import type { RemoteCommandStreams, TerminalSize } from "./remote-command.js";
import type { RemoteCommandResult } from "./status.js";

/** How long output may trail the process's exit. */
const OUTPUT_DRAIN_MS = 2_000;
/** How long a terminal exec waits for the client's first terminal size. */
const FIRST_SIZE_WAIT_MS = 500;
/** How long a killed process may take to be reported gone. */
const KILL_WAIT_MS = 10_000;

export interface ExecCommand {
  containerId: string;
  cmd: string[];
  tty: boolean;
}

/** Settles when `stream` has ended or closed (never rejects). */
export function ended(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) return resolve();
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
}

/** Ends `stream` and settles once it has flushed, or after `ms`. */
export function endWithin(stream: Writable | undefined, ms: number): Promise<void> {
  if (stream === undefined || stream.destroyed || stream.writableFinished) return Promise.resolve();
  return within(new Promise<void>((resolve) => stream.end(() => resolve())), ms).then(() => undefined);
}

/** Copies `from` into `to` (or drops it when there is no `to`), without ending `to`. */
function forward(from: Readable, to: Writable | undefined): void {
  if (to === undefined || to.destroyed) {
    from.resume();
    return;
  }
  from.pipe(to, { end: false });
  // A client that went away must not stall the process's output.
  to.once("close", () => {
    from.unpipe(to);
    from.resume();
  });
}

/** Applies terminal sizes in the order they came, the latest one once the process is there. */
export class ResizeQueue {
  #chain: Promise<void> = Promise.resolve();
  #latest: TerminalSize | undefined;
  #apply: ((size: TerminalSize) => Promise<unknown>) | undefined;
  #firstArrived: () => void = () => {};
  /** Resolves with the first size the client sends. */
  readonly first: Promise<void> = new Promise((resolve) => {
    this.#firstArrived = resolve;
  });

  constructor(private readonly onError: (err: unknown) => void) {}

  get latest(): TerminalSize | undefined {
    return this.#latest;
  }

  push(size: TerminalSize): void {
    this.#latest = size;
    this.#firstArrived();
    if (this.#apply !== undefined) this.#enqueue(size);
  }

  /** From now on sizes go to `apply`; the latest one so far is applied at once. */
  start(apply: (size: TerminalSize) => Promise<unknown>): void {
    this.#apply = apply;
    if (this.#latest !== undefined) this.#enqueue(this.#latest);
  }

  #enqueue(size: TerminalSize): void {
    const apply = this.#apply!;
    this.#chain = this.#chain
      .then(() => apply(size))
      .then(
        () => undefined,
        (err) => this.onError(err),
      );
  }
}

export async function runExec(
  cri: Cri,
  command: ExecCommand,
  io: RemoteCommandStreams,
): Promise<RemoteCommandResult> {
  const log = cri.log.child({ module: "streaming", call: "exec" });
  const c = cri.containers.find(command.containerId);
  if (c === undefined) return { kind: "error", message: `container ${command.containerId} not found` };
  if (containerState(c) !== "running") {
    return { kind: "error", message: `container ${c.meta.id} is not running: cannot exec in it` };
  }
  const containerId = c.meta.id;
  const resizes = new ResizeQueue((err) =>
    log.debug("terminal resize failed", { containerId, error: errorMessage(err) }),
  );
  if (command.tty) io.onResize((size) => resizes.push(size));
  let execId = "";
  try {
    const base = await containerProcess(cri, containerId);
    if (base === undefined) return { kind: "error", message: `container ${containerId} has no spec` };
    // Clients send their terminal's size as soon as they are connected: a moment's wait lets
    // the process start with it rather than resize right after (a quick command would see 0x0).
    if (command.tty && io.resizable) await within(resizes.first, FIRST_SIZE_WAIT_MS);
    if (io.gone.aborted) return { kind: "error", message: "the client went away" };
    const spec = execProcessSpec(base, command.cmd, command.tty, resizes.latest);
    const options = { containerId, spec, tty: command.tty, stdin: io.stdin !== undefined };
    return await runExecProcess(cri, options, async (p) => {
      execId = p.execId;
      log.debug("exec started", { containerId, execId, cmd: command.cmd, tty: command.tty });
      return joinStreams(p, command, io, resizes, log);
    });
  } catch (err) {
    log.warn("exec failed", { containerId, execId, error: errorMessage(err) });
    return { kind: "error", message: errorMessage(err) };
  }
}

/** Joins a started process to the client's streams until it exits or the client goes away. */
async function joinStreams(
  p: ExecProcess,
  command: ExecCommand,
  io: RemoteCommandStreams,
  resizes: ResizeQueue,
  log: Logger,
): Promise<RemoteCommandResult> {
  const ids = { containerId: command.containerId, execId: p.execId };
  if (command.tty) resizes.start((s) => p.resize(s));
  forward(p.stdout, io.stdout);
  if (p.stderr !== undefined) forward(p.stderr, io.stderr);
  const outputEnded = Promise.all([ended(p.stdout), p.stderr === undefined ? undefined : ended(p.stderr)]);
  const writer = p.stdin;
  if (io.stdin !== undefined && writer !== undefined) {
    io.stdin.pipe(writer);
    writer.once("finish", () => {
      // Our end is closed; CloseIO lets go of the shim's, so the process reads EOF.
      p.closeStdin().catch((e) => {
        if (!isNotFound(e)) log.debug("closing exec stdin failed", { ...ids, error: errorMessage(e) });
      });
    });
  }
  try {
    const gone = new Promise<"gone">((resolve) => {
      if (io.gone.aborted) resolve("gone");
      else io.gone.addEventListener("abort", () => resolve("gone"), { once: true });
    });
    const first = await Promise.race([p.exited, gone]);
    if (first === "gone") {
      log.info("exec client went away: killing the process", ids);
      await p.kill(KILL_WAIT_MS);
      return { kind: "error", message: "the client went away" };
    }
    const exitCode = first;
    if ((await within(outputEnded, OUTPUT_DRAIN_MS)) === undefined) {
      // Output still open after the exit (a child kept it): stop reading it.
      p.stdout.destroy();
      p.stderr?.destroy();
    }
    await Promise.all([endWithin(io.stdout, OUTPUT_DRAIN_MS), endWithin(io.stderr, OUTPUT_DRAIN_MS)]);
    log.debug("exec exited", { ...ids, exitCode });
    const result: RemoteCommandResult =
      exitCode === 0
        ? { kind: "success" }
        : {
            kind: "exit",
            code: exitCode,
            message: `command '${command.cmd.join(" ")}' exited with ${exitCode}`,
          };
    // The client has the whole output and the exit code: it hears now, and the process and
    // its FIFOs are deleted after (a few ms it need not wait for; finish is once only).
    await io.finish(result);
    return result;
  } finally {
    if (writer !== undefined) io.stdin?.unpipe(writer);
  }
}
