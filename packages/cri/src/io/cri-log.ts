// The CRI container log file: every line of output becomes
// `<RFC3339Nano time> <stdout|stderr> <F|P> <content>\n`; lines longer than the limit,
// and a last line without a newline, are split into partial (P) entries, the way
// kubelet's log reader and containerd's CRI plugin expect.

import { close, open, write } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { Readable } from "node:stream";

export type StreamName = "stdout" | "stderr";

const epochNs = BigInt(Date.now()) * 1_000_000n;
const hrBase = process.hrtime.bigint();

/** Go's time.RFC3339Nano of now, in UTC: trailing zeros of the fraction are dropped. */
export function rfc3339Nano(ns: bigint = epochNs + (process.hrtime.bigint() - hrBase)): string {
  const ms = Number(ns / 1_000_000n);
  const secs = new Date(ms).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return frac === "" ? `${secs}Z` : `${secs}.${frac}Z`;
}

/** Queued bytes above which the sources are paused until the file catches up. */
const HIGH_WATER = 1 << 20;

function openAppend(path: string): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, "a", 0o640, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

export class CriLogFile {
  readonly path: string;
  readonly #maxLine: number;
  #fd: number | undefined;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #writing = false;
  readonly #sources = new Set<Readable>();
  readonly #idle: Array<() => void> = [];
  #closed = false;

  private constructor(path: string, maxLine: number, fd: number | undefined) {
    this.path = path;
    this.#maxLine = maxLine;
    this.#fd = fd;
  }

  /** Opens (creates) the log file; an empty path discards the output. */
  static async open(path: string, maxLine: number): Promise<CriLogFile> {
    if (path === "") return new CriLogFile(path, maxLine, undefined);
    await mkdir(dirname(path), { recursive: true });
    return new CriLogFile(path, maxLine, await openAppend(path));
  }

  /** Copies `source` into the file until it ends; resolves then (never rejects). */
  copy(source: Readable, stream: StreamName): Promise<void> {
    this.#sources.add(source);
    let pending: Buffer[] = [];
    let length = 0;
    const tagStream = Buffer.from(` ${stream} `);
    // The entries completed by one read share its time and are written together: one
    // write per line would throttle a chatty container to a few lines per millisecond.
    let header = Buffer.alloc(0);
    let entries: Buffer[] = [];
    const emit = (tag: "F" | "P", parts: Buffer[]) => {
      let content = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (tag === "F" && content.length > 0 && content[content.length - 1] === 0x0d) {
        content = content.subarray(0, content.length - 1);
      }
      entries.push(header, tag === "F" ? FULL : PARTIAL, content, NL);
    };
    const stamp = () => {
      header = Buffer.concat([Buffer.from(rfc3339Nano()), tagStream]);
    };
    const write = () => {
      if (entries.length > 0) this.#push(Buffer.concat(entries));
      entries = [];
    };
    const flushLong = () => {
      const max = this.#maxLine;
      if (max <= 0) return;
      while (length > max) {
        const all = Buffer.concat(pending);
        emit("P", [all.subarray(0, max)]);
        pending = [all.subarray(max)];
        length -= max;
      }
    };
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        stamp();
        if (length > 0) emit("P", pending);
        write();
        pending = [];
        length = 0;
        this.#sources.delete(source);
        resolve();
      };
      source.on("data", (chunk: Buffer) => {
        stamp();
        let start = 0;
        for (;;) {
          const nl = chunk.indexOf(0x0a, start);
          if (nl < 0) break;
          pending.push(chunk.subarray(start, nl));
          length += nl - start;
          flushLong();
          emit("F", pending);
          pending = [];
          length = 0;
          start = nl + 1;
        }
        if (start < chunk.length) {
          pending.push(chunk.subarray(start));
          length += chunk.length - start;
          flushLong();
        }
        write();
        if (this.#queued > HIGH_WATER) source.pause();
      });
      source.once("end", finish);
      source.once("close", finish);
      source.once("error", finish);
      // A pipe starts reading when it is opened: an empty stream may have ended already.
      if (source.readableEnded || source.destroyed) finish();
    });
  }

  #push(line: Buffer): void {
    if (this.#closed || this.#fd === undefined) return;
    this.#queue.push(line);
    this.#queued += line.length;
    this.#drain();
  }

  #drain(): void {
    if (this.#writing) return;
    const next = this.#queue.shift();
    if (next === undefined || this.#fd === undefined) {
      if (this.#queued <= HIGH_WATER) for (const s of this.#sources) if (s.isPaused()) s.resume();
      for (const w of this.#idle.splice(0)) w();
      return;
    }
    this.#writing = true;
    write(this.#fd, next, 0, next.length, null, () => {
      // A failed write drops the entry: the container's output must keep draining.
      this.#writing = false;
      this.#queued -= next.length;
      this.#drain();
    });
  }

  /** Resolves once everything queued so far is written. */
  flushed(): Promise<void> {
    if (!this.#writing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Writes to a freshly opened file at the same path (after log rotation moved the old one). */
  async reopen(): Promise<void> {
    if (this.path === "" || this.#closed) return;
    const fd = await openAppend(this.path);
    await this.flushed();
    const old = this.#fd;
    this.#fd = fd;
    if (old !== undefined) close(old, () => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flushed();
    this.#closed = true;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) await new Promise<void>((resolve) => close(fd, () => resolve()));
  }
}

const NL = Buffer.from("\n");
const FULL = Buffer.from("F ");
const PARTIAL = Buffer.from("P ");
