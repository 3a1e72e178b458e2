// Follows a CRI container log from its current end, turning the entries written from now
// on back into the stream bytes they came from. Attach reads the output of a container
// whose log Berth's shim writes itself this way (berth-cri holds no pipe of it), so
// attaching changes nothing in it. The file is read, never written; a rotation (the path
// now names a new file) is followed.

import { type FileHandle, open, stat } from "node:fs/promises";

export type LogStream = "stdout" | "stderr";

export interface LogEntry {
  stream: LogStream;
  /** "P": a piece of a longer line, or a last line without a newline. */
  partial: boolean;
  content: Buffer;
}

/** Parses `<time> <stream> <F|P> <content>`; undefined for anything else. */
export function parseCriLogLine(line: Buffer): LogEntry | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const stream = line.toString("latin1", s1 + 1, s2);
  if (stream !== "stdout" && stream !== "stderr") return undefined;
  const tag = line.toString("latin1", s2 + 1, s2 + 2);
  if ((tag !== "F" && tag !== "P") || (line.length > s2 + 2 && line[s2 + 2] !== 0x20)) return undefined;
  return { stream, partial: tag === "P", content: line.subarray(Math.min(line.length, s2 + 3)) };
}

/** The bytes a log entry stands for: a full line gets its newline back. */
export function entryBytes(entry: LogEntry, terminal: boolean): Buffer {
  if (entry.partial) return entry.content;
  // The log drops a line's trailing CR; a terminal's lines end in CR LF.
  return Buffer.concat([entry.content, Buffer.from(terminal ? "\r\n" : "\n")]);
}

const POLL_MS = 100;
const READ_SIZE = 64 * 1024;

export class CriLogFollower {
  readonly #path: string;
  readonly #onEntry: (entry: LogEntry) => void;
  #file: FileHandle | undefined;
  #ino = 0;
  #position = 0;
  #pending: Buffer = Buffer.alloc(0);
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(path: string, onEntry: (entry: LogEntry) => void) {
    this.#path = path;
    this.#onEntry = onEntry;
  }

  /** Starts at the file's current end (a missing file is followed from when it appears). */
  async start(): Promise<void> {
    try {
      await this.#open(true);
    } catch {
      // not there yet
    }
    this.#timer = setInterval(() => this.#poll(), POLL_MS);
  }

  /** Reads what was written so far, then stops. */
  async stop(drain: boolean): Promise<void> {
    if (this.#stopped) return;
    clearInterval(this.#timer);
    if (drain) {
      this.#poll();
      await this.#reading;
    }
    this.#stopped = true;
    await this.#reading;
    await this.#file?.close().catch(() => undefined);
    this.#file = undefined;
  }

  async #open(atEnd: boolean): Promise<void> {
    const file = await open(this.#path, "r");
    const st = await file.stat();
    await this.#file?.close().catch(() => undefined);
    this.#file = file;
    this.#ino = st.ino;
    this.#position = atEnd ? st.size : 0;
    this.#pending = Buffer.alloc(0);
  }

  #poll(): void {
    this.#reading = this.#reading.then(() => this.#readNew()).catch(() => undefined);
  }

  async #readNew(): Promise<void> {
    if (this.#stopped) return;
    if (this.#file === undefined) {
      await this.#open(false);
    }
    await this.#readToEnd();
    // Rotated: what the old file still had is read above; the new file is read from its start.
    const st = await stat(this.#path).catch(() => undefined);
    if (st !== undefined && st.ino !== this.#ino) {
      await this.#open(false);
      await this.#readToEnd();
    }
  }

  async #readToEnd(): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    const buf = Buffer.alloc(READ_SIZE);
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, this.#position);
      if (bytesRead === 0) return;
      this.#position += bytesRead;
      this.#consume(buf.subarray(0, bytesRead));
    }
  }

  #consume(chunk: Buffer): void {
    let data = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const nl = data.indexOf(0x0a);
      if (nl < 0) break;
      const entry = parseCriLogLine(data.subarray(0, nl));
      if (entry !== undefined) this.#onEntry(entry);
      data = data.subarray(nl + 1);
    }
    this.#pending = Buffer.from(data);
  }
}
