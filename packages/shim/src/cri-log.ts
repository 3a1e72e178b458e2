import { close, mkdir, open, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { Readable } from "node:stream";
import { failedPrecondition } from "./errors.js";

// The CRI container log, written by the shim itself (stdout URI `cri-log:///<path>`, see
// stdio.ts): each line of output becomes `<RFC3339Nano> <stdout|stderr> <F|P> <content>\n`,
// the format kubelet reads. The shim reads the pipes as long as the process lives, whoever
// else is there, so a container never waits for berth-cri and loses nothing when it exits
// while berth-cri is away. Loaded only by shims whose tasks ask for it.
//
// Lines are split as containerd's CRI logger (pkg/cri/io/logger.go) splits them: a line
// longer than the limit becomes partial (P) entries of `maxLine` bytes and a last full (F)
// one; a trailing "\r" before "\n" is dropped; output that ends without a newline is a
// last P entry. All lines completed by one read carry the time of that read.

export type LogStream = "stdout" | "stderr";

const epochNs = BigInt(Date.now()) * 1_000_000n;
const hrBase = process.hrtime.bigint();

/** Go's time.RFC3339Nano of now, in UTC: trailing zeros of the fraction are dropped. */
export function rfc3339Nano(ns: bigint = epochNs + (process.hrtime.bigint() - hrBase)): string {
  const secs = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return frac === "" ? `${secs}Z` : `${secs}.${frac}Z`;
}

const NL = 0x0a;
const CR = 0x0d;
const FULL = Buffer.from("F ");
const PARTIAL = Buffer.from("P ");

/** Turns one stream's output, read by read, into CRI log entries. */
export class CriLineEncoder {
  readonly #stream: LogStream;
  readonly #maxLine: number;
  /** The start of a line whose end has not been read yet (at most `maxLine` bytes). */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  #out = Buffer.alloc(0);
  #at = 0;

  readonly #eachRead: boolean;

  /**
   * `maxLine` 0 (or less) keeps lines whole, as containerd does. `eachRead`: the start of
   * a line is written as a P entry at the end of the read that brought it, not held until
   * its newline, so that a terminal's prompt reaches whoever follows the log (attach).
   */
  constructor(stream: LogStream, maxLine: number, options: { eachRead?: boolean } = {}) {
    this.#stream = stream;
    this.#maxLine = maxLine > 0 ? maxLine : 0;
    this.#eachRead = options.eachRead === true;
  }

  /** The entries completed by `chunk`, stamped `time`. */
  encode(chunk: Buffer, time: string): Buffer {
    const header = Buffer.from(`${time} ${this.#stream} `);
    let lines = 0;
    for (let i = chunk.indexOf(NL); i >= 0; i = chunk.indexOf(NL, i + 1)) lines++;
    const splits = this.#maxLine > 0 ? Math.floor((this.#pendingLength + chunk.length) / this.#maxLine) : 0;
    this.#begin(this.#pendingLength + chunk.length + (lines + splits + 2) * (header.length + 3));
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && chunk[end - 1] === CR) end--;
      else if (end === start) this.#dropPendingCr();
      if (this.#pendingLength === 0 && (this.#maxLine === 0 || end - start <= this.#maxLine)) {
        // The common case: a whole line inside this read.
        this.#entry(header, FULL, chunk, start, end);
      } else {
        this.#append(header, chunk, start, end);
        this.#entry(header, FULL, chunk, 0, 0);
      }
      start = nl + 1;
    }
    if (start < chunk.length) this.#append(header, chunk, start, chunk.length);
    if (this.#eachRead) this.#flushPending(header);
    return this.#finish();
  }

  /** At the end of the stream: what is left of an unterminated line, as a P entry. */
  end(time: string): Buffer {
    if (this.#pendingLength === 0) return Buffer.alloc(0);
    const header = Buffer.from(`${time} ${this.#stream} `);
    this.#begin(this.#pendingLength + header.length + 3);
    this.#entry(header, PARTIAL, Buffer.alloc(0), 0, 0);
    return this.#finish();
  }

  /** Adds `chunk[start, end)` (no newline in it) to the pending line, cutting P entries off it. */
  #append(header: Buffer, chunk: Buffer, start: number, end: number): void {
    let from = start;
    while (this.#maxLine > 0 && this.#pendingLength + (end - from) > this.#maxLine) {
      const take = this.#maxLine - this.#pendingLength;
      this.#entry(header, PARTIAL, chunk, from, from + take);
      from += take;
    }
    if (from < end) {
      this.#pending.push(chunk.subarray(from, end));
      this.#pendingLength += end - from;
    }
  }

  /** The pending line as a P entry; a last "\r" stays pending, in case a "\n" follows. */
  #flushPending(header: Buffer): void {
    if (this.#pendingLength === 0) return;
    const line = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    const keep = line[line.length - 1] === CR ? 1 : 0;
    if (line.length - keep === 0) return;
    this.#pending = [];
    this.#pendingLength = 0;
    this.#entry(header, PARTIAL, line, 0, line.length - keep);
    if (keep === 1) {
      this.#pending = [line.subarray(line.length - 1)];
      this.#pendingLength = 1;
    }
  }

  /** "\r\n" split across reads: the "\r" is in the pending line. */
  #dropPendingCr(): void {
    const last = this.#pending[this.#pending.length - 1];
    if (last === undefined || last[last.length - 1] !== CR) return;
    this.#pending[this.#pending.length - 1] = last.subarray(0, last.length - 1);
    this.#pendingLength--;
  }

  /** Writes one entry: the pending line, then `chunk[start, end)`; the pending line is emptied. */
  #entry(header: Buffer, tag: Buffer, chunk: Buffer, start: number, end: number): void {
    this.#put(header);
    this.#put(tag);
    for (const part of this.#pending) this.#put(part);
    this.#pending = [];
    this.#pendingLength = 0;
    this.#at += chunk.copy(this.#out, this.#at, start, end);
    this.#out[this.#at++] = NL;
  }

  #put(b: Buffer): void {
    this.#at += b.copy(this.#out, this.#at);
  }

  #begin(capacity: number): void {
    this.#out = Buffer.allocUnsafe(capacity);
    this.#at = 0;
  }

  #finish(): Buffer {
    const out = this.#out.subarray(0, this.#at);
    this.#out = Buffer.alloc(0);
    return out;
  }
}

function openAppend(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    mkdir(dirname(path), { recursive: true }, (mkdirErr) => {
      if (mkdirErr) return reject(mkdirErr);
      open(path, "a", 0o640, (err, fd) => (err ? reject(err) : resolve(fd)));
    });
  });
}

/** One container's CRI log file, fed by its stdout and stderr. */
export class CriLogWriter {
  readonly path: string;
  readonly #maxLine: number;
  #fd: number;
  /** A file opened by reopen(), used from the next write on. */
  #next: { fd: number; swapped: () => void } | undefined;
  readonly #queue: Buffer[] = [];
  #writing = false;
  /** Each source being copied, with what ends its copy. */
  readonly #sources = new Map<Readable, () => void>();
  readonly #idle: Array<() => void> = [];
  #closing: Promise<void> | undefined;

  private constructor(path: string, maxLine: number, fd: number) {
    this.path = path;
    this.#maxLine = maxLine;
    this.#fd = fd;
  }

  /** Opens (creates, with its directory) the log file for appending. */
  static async open(path: string, maxLine: number): Promise<CriLogWriter> {
    return new CriLogWriter(path, maxLine, await openAppend(path));
  }

  /** Copies `source` into the log until it ends; resolves then (never rejects). `eachRead`: see CriLineEncoder. */
  copy(source: Readable, stream: LogStream, options: { eachRead?: boolean } = {}): Promise<void> {
    const encoder = new CriLineEncoder(stream, this.#maxLine, options);
    return new Promise<void>((resolve) => {
      let ended = false;
      const finish = () => {
        if (ended) return;
        ended = true;
        this.#sources.delete(source);
        this.#push(encoder.end(rfc3339Nano()));
        resolve();
      };
      this.#sources.set(source, finish);
      source.on("data", (chunk: Buffer) => {
        if (ended) return;
        this.#push(encoder.encode(chunk, rfc3339Nano()));
      });
      source.once("end", finish);
      source.once("close", finish);
      source.once("error", finish);
      if (source.readableEnded || source.destroyed) finish();
    });
  }

  /**
   * Writes to a new file at the same path from now on (kubelet renamed the old one to
   * rotate it). Resolves once the new file is in use; entries queued before go to it.
   */
  async reopen(): Promise<void> {
    if (this.#closing !== undefined)
      throw failedPrecondition(`log ${this.path} is closed: the process has exited`);
    const fd = await openAppend(this.path);
    if (this.#closing !== undefined) {
      close(fd, () => {});
      throw failedPrecondition(`log ${this.path} is closed: the process has exited`);
    }
    await new Promise<void>((swapped) => {
      if (this.#next !== undefined) {
        // Two reopens at once: the later file wins, both callers see it in use.
        const earlier = this.#next;
        close(earlier.fd, () => {});
        this.#next = {
          fd,
          swapped: () => {
            earlier.swapped();
            swapped();
          },
        };
      } else {
        this.#next = { fd, swapped };
      }
      this.#drain();
    });
  }

  /** Ends the copies (a pending partial line is written), writes what is queued and closes the file. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const finish of [...this.#sources.values()]) finish();
      if (this.#writing || this.#queue.length > 0) {
        await new Promise<void>((resolve) => this.#idle.push(resolve));
      }
      const fds = [this.#fd, this.#next?.fd];
      this.#next?.swapped();
      this.#next = undefined;
      for (const fd of fds) if (fd !== undefined) await new Promise<void>((r) => close(fd, () => r()));
    })();
    return this.#closing;
  }

  #push(entries: Buffer): void {
    if (entries.length === 0) return;
    this.#queue.push(entries);
    this.#drain();
  }

  /**
   * Writes what is queued, synchronously: an entry is in the file before the next read
   * of the pipe, so a shim killed at any moment has lost at most the read it was handling
   * (its container's output then waits in the FIFO for the next shim, docs/faults.md).
   * A local log file takes such a write in microseconds.
   */
  #drain(): void {
    if (this.#writing) return;
    this.#writing = true;
    try {
      for (;;) {
        const next = this.#next;
        if (next !== undefined) {
          this.#next = undefined;
          close(this.#fd, () => {});
          this.#fd = next.fd;
          next.swapped();
        }
        const entries = this.#queue.shift();
        if (entries === undefined) break;
        this.#writeAll(entries);
      }
    } finally {
      this.#writing = false;
    }
    for (const w of this.#idle.splice(0)) w();
  }

  #writeAll(buf: Buffer): void {
    let offset = 0;
    while (offset < buf.length) {
      let written: number;
      try {
        written = writeSync(this.#fd, buf, offset, buf.length - offset);
      } catch {
        return; // A failed write (disk full) drops the entries: the output must keep draining.
      }
      if (written <= 0) return;
      offset += written;
    }
  }
}
