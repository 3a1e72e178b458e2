// An exec through the streaming server: a process in the container with the container's
// process settings and the given argv, on FIFOs (or a terminal) that are joined to the
// client's streams. Resizes go to the daemon's ResizePty, the end of the client's stdin
// to CloseIO. When the client goes away first, the process is killed: nothing is left
// running for nobody.

import { randomBytes } from "node:crypto";
import { constants, open } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { errorMessage, isNotFound } from "@berth/client";
import type { Spec } from "@berth/client/oci/index";
import type { Cri } from "../cri.js";
import { type FifoSet, createFifoSet, openReaderWaiting, removeFifoSet } from "../io/fifo.js";
import { SIGKILL } from "../runtime/task.js";
import { containerState } from "../store/stores.js";
import type { RemoteCommandStreams, TerminalSize } from "./remote-command.js";
import type { RemoteCommandResult } from "./status.js";

const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";
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

/** Opens a FIFO for writing without waiting for its reader (read-write never blocks). */
export function openFifoWriter(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) =>
    open(path, constants.O_RDWR | constants.O_NONBLOCK, (err, fd) => {
      if (err) return reject(err);
      const s = new net.Socket({ fd, readable: false, writable: true });
      s.on("error", () => {});
      resolve(s);
    }),
  );
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

export function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
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

  let spec: Spec;
  let fifos: FifoSet;
  const execId = randomBytes(32).toString("hex");
  try {
    const record = (await cri.containerd.containers.get({ id: containerId })).container;
    if (record?.spec === undefined) return { kind: "error", message: `container ${containerId} has no spec` };
    spec = JSON.parse(Buffer.from(record.spec.value).toString("utf8")) as Spec;
    fifos = await createFifoSet(join(cri.config.state, "exec", execId), execId, {
      stdin: io.stdin !== undefined,
      terminal: command.tty,
    });
  } catch (err) {
    log.warn("exec failed", { containerId, error: errorMessage(err) });
    return { kind: "error", message: errorMessage(err) };
  }
  const env = [...(spec.process?.env ?? [])];
  // A terminal needs a TERM; containerd sets this one too.
  if (command.tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  const stdout = openReaderWaiting(fifos.stdout);
  const stderr = fifos.stderr !== "" ? openReaderWaiting(fifos.stderr) : undefined;
  let stdinWriter: net.Socket | undefined;
  const stopWaiting = new AbortController();
  let added = false;
  try {
    if (fifos.stdin !== "") stdinWriter = await openFifoWriter(fifos.stdin);
    // Clients send their terminal's size as soon as they are connected: a moment's wait lets
    // the process start with it rather than resize right after (a quick command would see 0x0).
    if (command.tty && io.resizable) await within(resizes.first, FIRST_SIZE_WAIT_MS);
    const size = resizes.latest;
    const processSpec = {
      ...spec.process,
      args: [...command.cmd],
      env,
      terminal: command.tty,
      ...(command.tty && size !== undefined
        ? { consoleSize: { width: size.width, height: size.height } }
        : {}),
    };
    if (io.gone.aborted) return { kind: "error", message: "the client went away" };
    await cri.containerd.tasks.exec({
      containerId,
      execId,
      stdin: fifos.stdin,
      stdout: fifos.stdout,
      stderr: fifos.stderr,
      terminal: command.tty,
      spec: { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(processSpec)) },
    });
    added = true;
    // The wait is in flight before start, so even an instant exit is seen.
    const waiting = cri.containerd.tasks.wait({ containerId, execId }, { signal: stopWaiting.signal });
    waiting.catch(() => undefined);
    await cri.containerd.tasks.start({ containerId, execId });
    log.debug("exec started", { containerId, execId, cmd: command.cmd, tty: command.tty });
    if (command.tty) {
      resizes.start((s) =>
        cri.containerd.tasks.resizePty({ containerId, execId, width: s.width, height: s.height }),
      );
    }

    const [out, err] = await Promise.all([stdout.stream, stderr?.stream]);
    forward(out, io.stdout);
    if (err !== undefined) forward(err, io.stderr);
    const outputEnded = Promise.all([ended(out), err === undefined ? undefined : ended(err)]);

    if (io.stdin !== undefined && stdinWriter !== undefined) {
      const writer = stdinWriter;
      io.stdin.pipe(writer);
      writer.once("finish", () => {
        // Our end is closed; CloseIO lets go of the shim's, so the process reads EOF.
        cri.containerd.tasks.closeIO({ containerId, execId, stdin: true }).catch((e) => {
          if (!isNotFound(e))
            log.debug("closing exec stdin failed", { containerId, execId, error: errorMessage(e) });
        });
      });
    }

    const gone = new Promise<"gone">((resolve) => {
      if (io.gone.aborted) resolve("gone");
      else io.gone.addEventListener("abort", () => resolve("gone"), { once: true });
    });
    const exited = waiting.then((r) => r.exitStatus);
    exited.catch(() => undefined);
    const first = await Promise.race([exited, gone]);
    if (first === "gone") {
      log.info("exec client went away: killing the process", { containerId, execId });
      await cri.containerd.tasks
        .kill({ containerId, execId, signal: SIGKILL, all: false })
        .catch((e) => log.debug("kill failed", { containerId, execId, error: errorMessage(e) }));
      await within(waiting, KILL_WAIT_MS).catch(() => undefined);
      return { kind: "error", message: "the client went away" };
    }
    const exitCode = first;
    if ((await within(outputEnded, OUTPUT_DRAIN_MS)) === undefined) {
      // Output still open after the exit (a child kept it): stop reading it.
      out.destroy();
      err?.destroy();
    }
    await Promise.all([endWithin(io.stdout, OUTPUT_DRAIN_MS), endWithin(io.stderr, OUTPUT_DRAIN_MS)]);
    log.debug("exec exited", { containerId, execId, exitCode });
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
  } catch (err) {
    log.warn("exec failed", { containerId, execId, error: errorMessage(err) });
    return { kind: "error", message: errorMessage(err) };
  } finally {
    stopWaiting.abort();
    stdout.cancel();
    stderr?.cancel();
    if (stdinWriter !== undefined) {
      io.stdin?.unpipe(stdinWriter);
      stdinWriter.destroy();
    }
    if (added) await deleteExec(cri, containerId, execId);
    await removeFifoSet(fifos);
  }
}

async function deleteExec(cri: Cri, containerId: string, execId: string): Promise<void> {
  try {
    await cri.containerd.tasks.deleteProcess({ containerId, execId });
  } catch (err) {
    if (!isNotFound(err)) {
      cri.log.warn("cannot delete an exec process", { containerId, execId, error: errorMessage(err) });
    }
  }
}
