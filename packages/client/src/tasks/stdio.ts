// A process's standard streams as a client attaches to them: FIFOs in a private directory
// (like containerd's cio: <dir>/<id>-stdin, -stdout, -stderr) that the shim opens by
// path. They are opened here before Tasks.Create or Exec, so that nothing the process
// writes is lost, and copied to and from the caller's streams while the process runs.

import { execFile } from "node:child_process";
import { constants, closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { BerthError } from "../errdefs.js";

/** Where FIFO directories are made (like containerd's /run/containerd/fifo). */
export const DEFAULT_FIFO_DIR = "/run/berth/fifo";

/** The stdio fields of Tasks.Create and Exec: FIFO paths, "" for a stream the process does not get. */
export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** No stdio at all: the shim gives the process /dev/null. */
export const NULL_STDIO: StdioPaths = { stdin: "", stdout: "", stderr: "", terminal: false };

/** Where output goes: process.stdout, or anything with write (and drain, for back-pressure). */
export interface OutputSink {
  write(chunk: Uint8Array): unknown;
  once?(event: "drain", listener: () => void): unknown;
}

export interface StdioStreams {
  /** Copied to the process's stdin; its end closes the process's stdin (through onStdinEnd). */
  stdin?: NodeJS.ReadableStream;
  stdout?: OutputSink;
  /** Unused with a terminal: the terminal carries both outputs. */
  stderr?: OutputSink;
}

export interface OpenStdioOptions {
  terminal?: boolean;
  /** Parent of the FIFO directory (default DEFAULT_FIFO_DIR, or the OS temp dir when that cannot be made). */
  fifoDir?: string;
}

const execFileAsync = promisify(execFile);

async function fifoRoot(preferred: string | undefined): Promise<string> {
  const candidates = preferred !== undefined ? [preferred] : [DEFAULT_FIFO_DIR, join(tmpdir(), "berth-fifo")];
  let last: unknown;
  for (const dir of candidates) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      return dir;
    } catch (err) {
      last = err;
    }
  }
  throw new BerthError(
    "FailedPrecondition",
    `cannot create a directory for stdio FIFOs (${candidates.join(", ")}): ${last instanceof Error ? last.message : String(last)}`,
  );
}

/** The FIFOs of one process, open on our side, and the copying between them and the caller's streams. */
export class ProcessStdio {
  readonly paths: StdioPaths;
  readonly #dir: string;
  readonly #outputs: net.Socket[] = [];
  readonly #outputsEnded: Promise<void>[] = [];
  readonly #input: NodeJS.ReadableStream | undefined;
  readonly #stdinFifo: net.Socket | undefined;
  #inputListeners: Array<[string, Parameters<NodeJS.ReadableStream["removeListener"]>[1]]> = [];
  #closed = false;

  private constructor(
    dir: string,
    paths: StdioPaths,
    streams: StdioStreams,
    stdinFifo: net.Socket | undefined,
    outputs: Array<[net.Socket, OutputSink]>,
  ) {
    this.#dir = dir;
    this.paths = paths;
    this.#input = streams.stdin;
    this.#stdinFifo = stdinFifo;
    for (const [socket, sink] of outputs) {
      this.#outputs.push(socket);
      this.#outputsEnded.push(copyOut(socket, sink));
    }
  }

  /**
   * Makes and opens FIFOs for process `id` (of a task or an exec): one for each stream
   * given, stderr only without a terminal. Output starts flowing to the streams at once.
   */
  static async open(
    id: string,
    streams: StdioStreams,
    options: OpenStdioOptions = {},
  ): Promise<ProcessStdio> {
    const terminal = options.terminal === true;
    const root = await fifoRoot(options.fifoDir);
    const dir = await mkdtemp(`${root}/`);
    const paths: StdioPaths = {
      stdin: streams.stdin !== undefined ? join(dir, `${id}-stdin`) : "",
      stdout: streams.stdout !== undefined ? join(dir, `${id}-stdout`) : "",
      stderr: streams.stderr !== undefined && !terminal ? join(dir, `${id}-stderr`) : "",
      terminal,
    };
    const fds: number[] = [];
    try {
      const fifos = [paths.stdin, paths.stdout, paths.stderr].filter((p) => p !== "");
      if (fifos.length > 0) await execFileAsync("mkfifo", ["-m", "600", ...fifos]);
      // Read ends are non-blocking: with no writer yet they are simply not readable. The
      // stdin end is opened read-write so that it opens before the shim does.
      const openFd = (path: string, flags: number) => {
        const fd = openSync(path, flags | constants.O_NONBLOCK);
        fds.push(fd);
        return fd;
      };
      const stdinFifo =
        paths.stdin !== ""
          ? new net.Socket({ fd: openFd(paths.stdin, constants.O_RDWR), readable: false, writable: true })
          : undefined;
      stdinFifo?.on("error", () => undefined);
      const outputs: Array<[net.Socket, OutputSink]> = [];
      for (const [path, sink] of [
        [paths.stdout, streams.stdout],
        [paths.stderr, streams.stderr],
      ] as const) {
        if (path === "" || sink === undefined) continue;
        const socket = new net.Socket({
          fd: openFd(path, constants.O_RDONLY),
          readable: true,
          writable: false,
        });
        outputs.push([socket, sink]);
      }
      return new ProcessStdio(dir, paths, streams, stdinFifo, outputs);
    } catch (err) {
      for (const fd of fds) {
        try {
          closeSync(fd);
        } catch {
          // already owned by a socket
        }
      }
      await rm(dir, { recursive: true, force: true });
      throw new BerthError(
        "Unknown",
        `cannot set up stdio FIFOs in ${dir}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /**
   * Starts copying the caller's stdin to the process. `onStdinEnd` runs once it ends
   * (the caller closes the process's stdin with CloseIO, as ctr does).
   */
  startInput(onStdinEnd?: () => void): void {
    const input = this.#input;
    const fifo = this.#stdinFifo;
    if (input === undefined || fifo === undefined) return;
    const onData = (chunk: Buffer | string) => {
      if (!fifo.write(chunk)) {
        input.pause();
        fifo.once("drain", () => {
          if (!this.#closed) input.resume();
        });
      }
    };
    const onEnd = () => {
      fifo.end();
      onStdinEnd?.();
    };
    const onError = () => onEnd();
    input.on("data", onData);
    input.once("end", onEnd);
    input.once("error", onError);
    this.#inputListeners = [
      ["data", onData],
      ["end", onEnd],
      ["error", onError],
    ];
    input.resume();
  }

  /** Resolves once every output has reached end-of-file, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#outputsEnded),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Stops copying, closes our ends of the FIFOs and removes them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const input = this.#input;
    if (input !== undefined) {
      for (const [event, listener] of this.#inputListeners) input.removeListener(event, listener);
      input.pause();
    }
    this.#stdinFifo?.destroy();
    for (const socket of this.#outputs) socket.destroy();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Copies a FIFO to a sink with back-pressure; resolves at end-of-file (or on an error). */
function copyOut(socket: net.Socket, sink: OutputSink): Promise<void> {
  return new Promise((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      if (sink.write(chunk) === false && sink.once !== undefined) {
        socket.pause();
        sink.once("drain", () => socket.resume());
      }
    });
    socket.once("end", () => resolve());
    socket.once("close", () => resolve());
    socket.once("error", () => resolve());
  });
}
