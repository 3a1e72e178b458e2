// The stdio FIFOs between a task's shim and berth-cri, for ExecSync and for the output of
// containers whose shim does not write the CRI log itself (any runtime but Berth's, see
// shim-log.ts). berth-cri makes them and reads them; the shim writes. The read end is
// opened so that it sees EOF only once the shim has closed its write end, i.e. once the
// process's output is complete.
//
// Restart caveats: the shim keeps its write ends open while berth-cri is away. Output
// produced meanwhile waits in the pipe (64 KiB) and in the shim, and a container that
// writes more blocks until berth-cri is back and reopens the FIFOs; such lines carry the
// time berth-cri read them. And runc's shim closes its ends when the process exits: what
// is still in a FIFO nobody holds open is then gone, so the output of a container that
// exits while berth-cri is away is lost.

import { constants, open, openSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { mkfifo } from "../sys/libc.js";

export interface FifoSet {
  dir: string;
  /** "" when the process gets no stdin. */
  stdin: string;
  stdout: string;
  /** "" with a terminal: the pty merges both streams into stdout. */
  stderr: string;
  terminal: boolean;
}

/** The path of a process's stdin FIFO in `dir`; attach finds a container's there. */
export function stdinFifoPath(dir: string, id: string): string {
  return join(dir, `${id}-stdin`);
}

/** Makes only the stdin FIFO (the shim writes the output itself). */
export async function createStdinFifo(dir: string, id: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = stdinFifoPath(dir, id);
  await mkfifo(path, 0o600);
  return path;
}

/**
 * Holds a write end of a stdin FIFO open, so that the process does not see EOF when a
 * client that attached (and wrote) goes away: only CloseIO ends its input. Read-write
 * does not wait for the reader.
 */
export function holdStdinFifo(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
}

export async function createFifoSet(
  dir: string,
  id: string,
  options: { stdin: boolean; terminal: boolean },
): Promise<FifoSet> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const set: FifoSet = {
    dir,
    stdin: options.stdin ? stdinFifoPath(dir, id) : "",
    stdout: join(dir, `${id}-stdout`),
    stderr: options.terminal ? "" : join(dir, `${id}-stderr`),
    terminal: options.terminal,
  };
  for (const p of [set.stdin, set.stdout, set.stderr]) if (p !== "") await mkfifo(p, 0o600);
  return set;
}

/** The FIFO paths of a set that already exists (after a restart). */
export function existingFifoSet(
  dir: string,
  id: string,
  options: { stdin: boolean; terminal: boolean },
): FifoSet {
  return {
    dir,
    stdin: options.stdin ? stdinFifoPath(dir, id) : "",
    stdout: join(dir, `${id}-stdout`),
    stderr: options.terminal ? "" : join(dir, `${id}-stderr`),
    terminal: options.terminal,
  };
}

export async function removeFifoSet(set: FifoSet): Promise<void> {
  await rm(set.dir, { recursive: true, force: true });
}

export interface PendingReader {
  /** The read end; its data comes once a writer has opened the FIFO. */
  readonly stream: Promise<net.Socket>;
  /** Gives up: the stream is destroyed. */
  cancel(): void;
}

function socketOn(fd: number): net.Socket {
  const s = new net.Socket({ fd, readable: true, writable: false });
  s.on("error", () => {});
  return s;
}

/**
 * Opens the read end of `path` for a writer still to come. Call before creating the task
 * or exec: containerd's runc shim opens its end blocking, so the task create call waits
 * for this reader. The open is non-blocking, and epoll reports no hang-up on a FIFO that
 * never had a writer, so the stream waits for the shim's first bytes and ends only once
 * every writer has closed. (A blocking open would hold one of libuv's four pool threads
 * until the writer came: a few execs whose writer is late, or never comes, starved every
 * other file operation of the daemon, the open that releases them included.)
 */
export function openReaderWaiting(path: string): PendingReader {
  let socket: net.Socket | undefined;
  let cancelled = false;
  const stream = new Promise<net.Socket>((resolve, reject) => {
    open(path, constants.O_RDONLY | constants.O_NONBLOCK, (err, fd) => {
      if (err) return reject(err);
      socket = socketOn(fd);
      if (cancelled) socket.destroy();
      resolve(socket);
    });
  });
  stream.catch(() => undefined);
  return {
    stream,
    cancel() {
      cancelled = true;
      socket?.destroy();
    },
  };
}

/** Opens the read end of a FIFO whose writer is already there (reattaching after a restart). */
export function openReaderNow(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) =>
    open(path, constants.O_RDONLY | constants.O_NONBLOCK, (err, fd) =>
      err ? reject(err) : resolve(socketOn(fd)),
    ),
  );
}

/**
 * A socket on a FIFO's write end. Without `readerThere` it never waits for a reader
 * (read-write never blocks); with it, it opens only while a reader (the shim) has the FIFO
 * open, and fails at once otherwise.
 */
export function openFifoWriter(path: string, readerThere = false): Promise<net.Socket> {
  const flags = (readerThere ? constants.O_WRONLY : constants.O_RDWR) | constants.O_NONBLOCK;
  return new Promise((resolve, reject) =>
    open(path, flags, (err, fd) => {
      if (err) return reject(err);
      const s = new net.Socket({ fd, readable: false, writable: true });
      s.on("error", () => {});
      resolve(s);
    }),
  );
}
