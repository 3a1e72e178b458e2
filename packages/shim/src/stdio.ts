import {
  constants,
  closeSync,
  createWriteStream,
  fstatSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
} from "node:fs";
import { mkdir } from "node:fs/promises";
import net from "node:net";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { CriLogWriter } from "./cri-log.js";
import { failedPrecondition, invalidArgument } from "./errors.js";
import { mkfifo, pipe } from "./sys.js";

// A process's standard streams. runc gets real pipes (a container may reopen /dev/stdout,
// which fails on a socket); the shim keeps the other ends and copies them to and from the
// FIFOs or file the client named, or writes them into a CRI log, so the client may come
// and go while the process runs.
//
// A container's own output (its init process's stdout and stderr) goes through FIFOs in
// the bundle instead of anonymous pipes, so that it outlives the shim (docs/faults.md):
// the container is handed the FIFO opened read-write, so it holds a reader itself and a
// write never raises EPIPE or SIGPIPE while no shim reads; what it writes then waits in
// the pipe (the writer blocks once the pipe is full) until a new shim opens the FIFO and
// reads on from where the old one stopped.

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/**
 * How the client wants output delivered, from the stdout URI's scheme. Besides upstream's
 * FIFOs and `file://` (raw output), Berth's own `cri-log:///<path>[?max-line-size=N]`
 * asks the shim to write the CRI container log itself (cri-log.ts): stdout and stderr
 * into one file, each line tagged with its stream. stderr is then the same URI (or empty
 * with a terminal). A scheme of its own, so that no shim that does not know it can take it
 * for a plain file; containerd's runc shim rejects it as an unknown scheme.
 */
export type StdioKind =
  | { kind: "null" }
  | { kind: "fifo" }
  | { kind: "file"; path: string }
  | { kind: "cri-log"; path: string; maxLine: number };

export const CRI_LOG_SCHEME = "cri-log";
/** containerd's default max_container_log_line_size. */
export const DEFAULT_MAX_LOG_LINE = 16 * 1024;

export function parseStdio(stdio: StdioPaths): StdioKind {
  if (stdio.stdin === "" && stdio.stdout === "" && stdio.stderr === "") return { kind: "null" };
  const out = stdio.stdout;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(out)?.[1];
  if (scheme === undefined || out === "") return { kind: "fifo" };
  switch (scheme) {
    case "fifo":
      return { kind: "fifo" };
    case "file": {
      const path = decodeURIComponent(new URL(out).pathname);
      if (path === "" || path === "/") throw invalidArgument(`stdio: no path in ${out}`);
      return { kind: "file", path };
    }
    case CRI_LOG_SCHEME:
      return parseCriLog(stdio);
    case "binary":
      throw invalidArgument(`stdio: binary:// logging drivers are not supported by this shim (${out})`);
    default:
      throw invalidArgument(`stdio: unknown scheme ${scheme} in ${out}`);
  }
}

function parseCriLog(stdio: StdioPaths): StdioKind {
  const uri = stdio.stdout;
  const url = new URL(uri);
  const path = decodeURIComponent(url.pathname);
  if (url.host !== "" || !path.startsWith("/") || path === "/") {
    throw invalidArgument(`stdio: ${uri}: expected ${CRI_LOG_SCHEME}:///<absolute path>`);
  }
  if (stdio.stderr !== "" && stdio.stderr !== uri) {
    throw invalidArgument(
      `stdio: with stdout ${uri}, stderr must be the same URI (or empty), not ${stdio.stderr}`,
    );
  }
  const max = url.searchParams.get("max-line-size");
  const maxLine = max === null ? DEFAULT_MAX_LOG_LINE : Number(max);
  if (!Number.isSafeInteger(maxLine) || maxLine < 0 || max === "") {
    throw invalidArgument(`stdio: ${uri}: max-line-size must be a non-negative integer`);
  }
  return { kind: "cri-log", path, maxLine };
}

/** A FIFO path, with or without a fifo:// scheme. */
function fifoPath(uri: string): string {
  return uri.startsWith("fifo://") ? decodeURIComponent(new URL(uri).pathname) : uri;
}

type ChildFd = number | "ignore";

interface Pipe {
  read: number;
  write: number;
}

function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function readStream(fd: number): net.Socket {
  const s = new net.Socket({ fd, readable: true, writable: false });
  s.on("error", () => {});
  return s;
}

function writeStream(fd: number): net.Socket {
  const s = new net.Socket({ fd, readable: false, writable: true });
  s.on("error", () => {});
  return s;
}

/**
 * A new FIFO at `path`: our read end (non-blocking, so opening waits for no writer) and the
 * read-write end the process gets. Holding a reader itself, the process never sees EPIPE;
 * it sees EOF on nothing, and we see EOF once every process holding its end has exited.
 */
function outputFifo(path: string): Pipe {
  rmSync(path, { force: true });
  mkfifo(path, 0o600);
  const read = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return { read, write: openSync(path, constants.O_RDWR) };
  } catch (err) {
    closeSync(read);
    throw err;
  }
}

/** Opens a FIFO for writing without blocking: read-write keeps it open while the client is away. */
function openFifoForWriting(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

/** A writable stream on a descriptor: libuv streams for pipes and sockets, fs streams for files. */
function outputStream(fd: number): Writable {
  const st = fstatSync(fd);
  if (st.isFIFO() || st.isSocket()) return writeStream(fd);
  const s = createWriteStream("", { fd, autoClose: true });
  s.on("error", () => {});
  return s;
}

/** Settles once everything written to `stream` has been handed to the kernel (or it failed). */
function flushed(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    stream.once("finish", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
}

export class ProcessIO {
  readonly stdio: StdioPaths;
  readonly #kind: StdioKind;
  #stdin: Pipe | undefined;
  #stdout: Pipe | undefined;
  #stderr: Pipe | undefined;
  /** Our own writer on the stdin FIFO: while it is open, the client closing its end is not EOF. */
  #stdinHold: number | undefined;
  readonly #streams: Array<Readable | Writable> = [];
  #copies: Promise<void>[] = [];
  #criLog: CriLogWriter | undefined;
  #closed = false;

  private constructor(stdio: StdioPaths, kind: StdioKind) {
    this.stdio = stdio;
    this.#kind = kind;
  }

  /**
   * Makes the pipes runc will be given; parseStdio errors surface here, before runc runs.
   * With `fifoDir`, stdout and stderr are FIFOs there (outputFifo), which adopt() reopens.
   */
  static create(stdio: StdioPaths, fifoDir?: string): ProcessIO {
    const io = new ProcessIO(stdio, parseStdio(stdio));
    if (io.#kind.kind === "null") return io;
    const output = (name: string): Pipe => {
      if (fifoDir === undefined) {
        const [read, write] = pipe();
        return { read, write };
      }
      return outputFifo(join(fifoDir, name));
    };
    try {
      if (stdio.stdin !== "") {
        const [read, write] = pipe();
        io.#stdin = { read, write };
      }
      if (fifoDir !== undefined) mkdirSync(fifoDir, { recursive: true, mode: 0o700 });
      if (stdio.stdout !== "") io.#stdout = output("stdout");
      if (stdio.stderr !== "") io.#stderr = output("stderr");
    } catch (err) {
      io.close();
      throw err;
    }
    return io;
  }

  /**
   * The output of a process another shim started with `fifoDir` (create): the FIFOs are
   * opened for reading again, and start() copies on from what is waiting in them. Its stdin
   * ended with that shim (an anonymous pipe: its writer is gone).
   */
  static adopt(stdio: StdioPaths, fifoDir: string): ProcessIO {
    const io = new ProcessIO(stdio, parseStdio(stdio));
    if (io.#kind.kind === "null") return io;
    const reopen = (name: string): Pipe => ({
      read: openSync(join(fifoDir, name), constants.O_RDONLY | constants.O_NONBLOCK),
      write: -1,
    });
    try {
      if (stdio.stdout !== "") io.#stdout = reopen("stdout");
      if (stdio.stderr !== "") io.#stderr = reopen("stderr");
    } catch (err) {
      io.close();
      throw err;
    }
    return io;
  }

  /** Descriptors to hand to runc as its stdin, stdout and stderr. */
  childStdio(): [ChildFd, ChildFd, ChildFd] {
    return [this.#stdin?.read ?? "ignore", this.#stdout?.write ?? "ignore", this.#stderr?.write ?? "ignore"];
  }

  /** Once runc has run, only the container holds the child ends: close ours so EOF can arrive. */
  closeChildEnds(): void {
    for (const p of [this.#stdin, this.#stdout, this.#stderr]) {
      if (p === undefined) continue;
      const fd = p === this.#stdin ? p.read : p.write;
      closeQuietly(fd);
      if (p === this.#stdin) p.read = -1;
      else p.write = -1;
    }
  }

  /** Opens the client's FIFOs or file and starts copying. */
  async start(): Promise<void> {
    if (this.#kind.kind === "null") return;
    const { stdio } = this;
    if (this.#kind.kind === "cri-log") {
      await this.#startCriLog(this.#kind.path, this.#kind.maxLine);
    } else if (this.#kind.kind === "file") {
      const path = this.#kind.path;
      await mkdir(dirname(path), { recursive: true });
      const out = outputStream(
        openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644),
      );
      this.#streams.push(out);
      this.#copies.push(flushed(out));
      const sources = [this.#stdout, this.#stderr].filter((p): p is Pipe => p !== undefined);
      let open_ = sources.length;
      for (const p of sources) {
        this.#copies.push(
          this.#copy(readStream(p.read), out, () => {
            if (--open_ === 0) out.end();
          }),
        );
        p.read = -1;
      }
      if (open_ === 0) out.end();
    } else {
      for (const [pipe_, uri] of [
        [this.#stdout, stdio.stdout],
        [this.#stderr, stdio.stderr],
      ] as const) {
        if (pipe_ === undefined) continue;
        const path = fifoPath(uri);
        const fd = isFifo(path)
          ? openFifoForWriting(path)
          : openSync(path, constants.O_WRONLY | constants.O_APPEND);
        const out = outputStream(fd);
        this.#streams.push(out);
        this.#copies.push(flushed(out));
        this.#copies.push(this.#copy(readStream(pipe_.read), out, () => out.end()));
        pipe_.read = -1;
      }
    }
    if (this.#stdin !== undefined) {
      const path = fifoPath(stdio.stdin);
      const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      this.#stdinHold = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      const to = writeStream(this.#stdin.write);
      this.#stdin.write = -1;
      this.#streams.push(to);
      // Not awaited in done(): stdin ends when the client closes it, not when the process exits.
      void this.#copy(readStream(reader), to, () => to.destroy());
    }
  }

  /** Both output pipes into one CRI log file, closed once both have ended. */
  async #startCriLog(path: string, maxLine: number): Promise<void> {
    const { CriLogWriter } = await import("./cri-log.js");
    const log = await CriLogWriter.open(path, maxLine);
    this.#criLog = log;
    const copies: Promise<void>[] = [];
    for (const [pipe_, name] of [
      [this.#stdout, "stdout"],
      [this.#stderr, "stderr"],
    ] as const) {
      if (pipe_ === undefined) continue;
      const from = readStream(pipe_.read);
      pipe_.read = -1;
      this.#streams.push(from);
      copies.push(log.copy(from, name));
    }
    this.#copies.push(Promise.all(copies).then(() => log.close()));
  }

  /** Switches the CRI log to a new file at its path (after the old one was renamed). */
  async reopenLog(): Promise<void> {
    if (this.#criLog === undefined) {
      throw failedPrecondition(`the process's output does not go to a ${CRI_LOG_SCHEME} log`);
    }
    await this.#criLog.reopen();
  }

  #copy(from: net.Socket, to: Writable, onEnd: () => void): Promise<void> {
    this.#streams.push(from);
    return new Promise<void>((resolve) => {
      let ended = false;
      const finish = () => {
        if (ended) return;
        ended = true;
        from.unpipe(to);
        onEnd();
        resolve();
      };
      from.once("end", finish);
      from.once("close", finish);
      from.pipe(to, { end: false });
    });
  }

  /** Closes our writer on the stdin FIFO, so the client closing its own delivers EOF (CloseIO). */
  closeStdin(): void {
    closeQuietly(this.#stdinHold);
    this.#stdinHold = undefined;
  }

  /** Resolves when output has been copied out, or after `timeoutMs`. */
  async done(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#copies),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of [this.#stdin, this.#stdout, this.#stderr]) {
      if (p === undefined) continue;
      if (p.read >= 0) closeQuietly(p.read);
      if (p.write >= 0) closeQuietly(p.write);
    }
    this.closeStdin();
    for (const s of this.#streams) s.destroy();
    void this.#criLog?.close();
  }
}
