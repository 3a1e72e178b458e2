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

import { constants, close, open, openSync } from "node:fs";
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
  /** Resolves with the read end once a writer has opened the FIFO. */
  readonly stream: Promise<net.Socket>;
  /** Gives up: a pending open returns and is closed, an opened stream is destroyed. */
  cancel(): void;
}

function socketOn(fd: number): net.Socket {
  const s = new net.Socket({ fd, readable: true, writable: false });
  s.on("error", () => {});
  return s;
}

/**
 * Opens the read end of `path`, waiting (in libuv's thread pool, not the event loop) for
 * the shim to open the write end. Call before creating the task or exec: containerd's
 * runc shim opens its end blocking, so the task create call waits for this reader.
 */
export function openReaderWaiting(path: string): PendingReader {
  let cancelled = false;
  let socket: net.Socket | undefined;
  let settled = false;
  const stream = new Promise<net.Socket>((resolve, reject) => {
    open(path, constants.O_RDONLY, (err, fd) => {
      settled = true;
      if (err) return reject(err);
      if (cancelled) {
        close(fd, () => undefined);
        return reject(new Error(`stopped waiting for a writer on ${path}`));
      }
      socket = socketOn(fd);
      resolve(socket);
    });
  });
  stream.catch(() => undefined);
  return {
    stream,
    cancel() {
      if (cancelled) return;
      cancelled = true;
      socket?.destroy();
      if (settled) return;
      // A writer that opens and closes at once releases the waiting open.
      open(path, constants.O_WRONLY | constants.O_NONBLOCK, (err, fd) => {
        if (!err) close(fd, () => undefined);
      });
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
