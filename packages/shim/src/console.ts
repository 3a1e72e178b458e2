import { constants, closeSync, openSync, readSync, write } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { ReadStream } from "node:tty";
import type { CriLogWriter } from "./cri-log.js";
import { failedPrecondition } from "./errors.js";
import { CRI_LOG_SCHEME, type StdioPaths, parseStdio } from "./stdio.js";
import { dupFd, receiveFds, setWindowSize } from "./sys.js";

// Terminals: runc creates the pty and sends its master over `--console-socket` with
// SCM_RIGHTS. Node cannot receive descriptors, so the accepted connection is left paused
// and read with recvmsg(2); the master is then copied to and from the client's FIFOs, or
// into a CRI log as stdout.

interface Accepted {
  socket: net.Socket;
}

export class ConsoleSocket {
  readonly path: string;
  readonly #dir: string;
  readonly #server: net.Server;
  readonly #accepted: Promise<Accepted>;

  private constructor(dir: string, server: net.Server, accepted: Promise<Accepted>) {
    this.#dir = dir;
    this.path = join(dir, "pty.sock");
    this.#server = server;
    this.#accepted = accepted;
  }

  static async create(): Promise<ConsoleSocket> {
    const dir = await mkdtemp(join(tmpdir(), "pty"));
    const server = net.createServer({ pauseOnConnect: true });
    const accepted = new Promise<Accepted>((resolve) => {
      server.once("connection", (socket) => resolve({ socket }));
    });
    accepted.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(join(dir, "pty.sock"), () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new ConsoleSocket(dir, server, accepted);
  }

  /** The pty master runc sent, once it has connected (call after runc create/exec returned). */
  async receiveMaster(timeoutMs = 10_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("console socket: runc never connected")), timeoutMs);
    });
    try {
      const { socket } = await Promise.race([this.#accepted, timeout]);
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd !== "number" || fd < 0)
        throw new Error("console socket: no descriptor for the connection");
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          const { fds } = receiveFds(fd);
          const [master, ...extra] = fds;
          for (const e of extra) closeSync(e);
          if (master === undefined) throw new Error("console socket: runc sent no descriptor");
          socket.destroy();
          return master;
        } catch (err) {
          if ((err as { code?: string }).code !== "EAGAIN" || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/**
 * After the pty hung up: polls this far apart, and stops after this many empty ones once
 * the process has exited (or after the larger number if its exit is never reported).
 */
const DRAIN_POLL_MS = 5;
const DRAIN_QUIET_POLLS = 4;
const DRAIN_MAX_QUIET_POLLS = 400;

/** Copies between a pty master and the client's FIFOs (or CRI log); stderr is unused with a terminal. */
export class ConsoleCopy {
  readonly #master: number;
  readonly #stdio: StdioPaths;
  #reader: ReadStream | undefined;
  #output: PassThrough | undefined;
  #out: net.Socket | undefined;
  #criLog: CriLogWriter | undefined;
  #stdinReader: net.Socket | undefined;
  #stdinHold: number | undefined;
  #done: Promise<void> = Promise.resolve();
  #closed = false;
  #masterGone = false;
  #processExited = false;

  constructor(master: number, stdio: StdioPaths) {
    this.#master = master;
    this.#stdio = stdio;
  }

  async start(): Promise<void> {
    const { stdout, stdin } = this.#stdio;
    const kind = parseStdio(this.#stdio);
    if (kind.kind === "cri-log") {
      const { CriLogWriter } = await import("./cri-log.js");
      const log = await CriLogWriter.open(kind.path, kind.maxLine);
      this.#criLog = log;
      const reader = this.#readMaster();
      // The output ends once every slave descriptor is closed and the master is drained.
      // A terminal's output is logged as it is read: a prompt has no newline to wait for.
      this.#done = log.copy(reader, "stdout", { eachRead: true }).then(() => log.close());
    } else if (stdout !== "") {
      const out = new net.Socket({
        fd: openSync(stdout, constants.O_RDWR | constants.O_NONBLOCK),
        readable: false,
      });
      out.on("error", () => {});
      this.#out = out;
      const reader = this.#readMaster();
      this.#done = new Promise<void>((resolve) => {
        let ended = false;
        const finish = () => {
          if (ended) return;
          ended = true;
          reader.unpipe(out);
          // Done once what was read has reached the FIFO: close() destroys the socket, and
          // with it any write still queued behind a slow reader (the tail of the output).
          out.once("finish", resolve);
          out.once("close", resolve);
          out.end();
        };
        // The output ends once every slave descriptor is closed and the master is drained.
        reader.once("end", finish);
        reader.once("close", finish);
      });
      reader.pipe(out, { end: false });
    }
    if (stdin !== "") {
      const fd = openSync(stdin, constants.O_RDONLY | constants.O_NONBLOCK);
      this.#stdinHold = openSync(stdin, constants.O_WRONLY | constants.O_NONBLOCK);
      const input = new net.Socket({ fd, readable: true, writable: false });
      input.on("error", () => {});
      this.#stdinReader = input;
      input.on("data", (chunk: Buffer) => {
        input.pause();
        this.#writeAll(chunk).then(
          () => input.resume(),
          () => input.destroy(),
        );
      });
    }
  }

  /**
   * The master's output, ending once the pty has hung up and been drained. Linux can
   * report the hang-up (EIO, which Node's tty stream takes as the end) while the last
   * kilobytes the process wrote are still on their way to the master's buffer; so after
   * it a second descriptor keeps reading until the pty has stayed empty for a moment,
   * much as containerd's console keeps reading past EIO until the process is gone.
   */
  #readMaster(): Readable {
    const spare = dupFd(this.#master);
    const reader = new ReadStream(this.#master);
    const output = new PassThrough();
    this.#reader = reader;
    this.#output = output;
    reader.on("error", () => {});
    reader.pipe(output, { end: false });
    let hungUp = false;
    const hangUp = () => {
      if (hungUp) return;
      hungUp = true;
      reader.unpipe(output);
      void this.#drain(spare, output).finally(() => {
        closeSync(spare);
        output.end();
      });
    };
    reader.once("end", hangUp);
    reader.once("error", hangUp);
    reader.once("close", () => {
      this.#masterGone = true;
      hangUp();
    });
    return output;
  }

  /** Reads what reaches the hung-up master until, the process gone, it has stayed empty a while. */
  async #drain(fd: number, output: PassThrough): Promise<void> {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let quiet = 0;
    const drained = () =>
      quiet >= DRAIN_MAX_QUIET_POLLS || (quiet >= DRAIN_QUIET_POLLS && this.#processExited);
    while (!drained() && !this.#closed) {
      let n = 0;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EIO" && code !== "EAGAIN") return;
      }
      if (n > 0) {
        quiet = 0;
        if (!output.write(Buffer.from(buf.subarray(0, n)))) {
          await new Promise((resolve) => output.once("drain", resolve));
        }
      } else {
        quiet++;
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      }
    }
  }

  async reopenLog(): Promise<void> {
    if (this.#criLog === undefined) {
      throw failedPrecondition(`the process's output does not go to a ${CRI_LOG_SCHEME} log`);
    }
    await this.#criLog.reopen();
  }

  /** The master is non-blocking: retry on EAGAIN rather than block the event loop. */
  async #writeAll(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length && !this.#closed) {
      const n = await new Promise<number>((resolve, reject) => {
        write(this.#master, chunk, offset, chunk.length - offset, null, (err, written) => {
          if (err === null) resolve(written);
          else if (err.code === "EAGAIN") resolve(0);
          else reject(err);
        });
      });
      offset += n;
      if (n === 0) await new Promise((r) => setTimeout(r, 10));
    }
  }

  processExited(): void {
    this.#processExited = true;
  }

  /** Ignored once the pty is gone: the master descriptor may have been closed (and reused). */
  resize(width: number, height: number): void {
    if (this.#closed || this.#masterGone) return;
    setWindowSize(this.#master, width, height);
  }

  closeStdin(): void {
    if (this.#stdinHold !== undefined) closeSync(this.#stdinHold);
    this.#stdinHold = undefined;
  }

  async done(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#done,
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeStdin();
    this.#stdinReader?.destroy();
    this.#out?.destroy();
    if (this.#reader !== undefined) this.#reader.destroy();
    else closeSync(this.#master);
    this.#output?.destroy();
    void this.#criLog?.close();
  }
}
