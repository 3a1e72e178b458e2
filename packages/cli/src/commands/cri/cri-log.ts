// Reading a container's CRI log file the way kubelet does for `kubectl logs`: lines are
// `<RFC3339Nano time> <stdout|stderr> <F|P> <content>`; partial (P) pieces are joined
// with what follows on the same stream, stdout goes to stdout and stderr to stderr,
// --timestamps prefixes each line with its time (nine fraction digits), --tail starts N
// lines from the end, and following survives the file being rotated and reopened.

import { watch } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Output } from "../../command.js";

export type LogStream = "stdout" | "stderr";

export interface LogEntry {
  /** The time as written. */
  time: string;
  /** Unix nanoseconds of `time`. */
  ns: bigint;
  stream: LogStream;
  /** A piece of a longer line (tag P): no line break after its content. */
  partial: boolean;
  content: Buffer;
}

const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** "2024-05-01T10:00:00.5Z" → its Unix nanoseconds and Go's RFC3339NanoFixed of it. */
export function parseLogTime(text: string): { ns: bigint; fixed: string } | undefined {
  const m = TIME.exec(text);
  if (m === null) return undefined;
  const [, seconds = "", fraction = "", zone = ""] = m;
  const ms = Date.parse(`${seconds}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  const nanos = fraction.padEnd(9, "0");
  return {
    ns: BigInt(ms) * 1_000_000n + BigInt(nanos),
    fixed: `${seconds}.${nanos}${zone}`,
  };
}

/** One line of a CRI log file (without its line break), or undefined if it is not one. */
export function parseLogLine(line: Buffer): LogEntry | undefined {
  const a = line.indexOf(0x20);
  const b = a < 0 ? -1 : line.indexOf(0x20, a + 1);
  if (b < 0) return undefined;
  // The tag may carry more fields after a ":" ("F:x"); only the first one matters.
  const c = line.indexOf(0x20, b + 1);
  const tagEnd = c < 0 ? line.length : c;
  const time = line.subarray(0, a).toString("latin1");
  const stream = line.subarray(a + 1, b).toString("latin1");
  const tag = line
    .subarray(b + 1, tagEnd)
    .toString("latin1")
    .split(":")[0];
  const parsed = parseLogTime(time);
  if (parsed === undefined || (stream !== "stdout" && stream !== "stderr") || (tag !== "F" && tag !== "P")) {
    return undefined;
  }
  return {
    time,
    ns: parsed.ns,
    stream,
    partial: tag === "P",
    content: c < 0 ? Buffer.alloc(0) : line.subarray(c + 1),
  };
}

/**
 * The index of the first entry of the last `lines` lines: a line ends with an F entry
 * (its P pieces before it belong to it), and pieces at the very end count as one line.
 * A negative count means all of them.
 */
export function tailStart(entries: ReadonlyArray<{ partial: boolean }>, lines: number): number {
  if (lines < 0) return 0;
  if (lines === 0) return entries.length;
  let count = 0;
  let i = entries.length - 1;
  if (i >= 0 && entries[i]!.partial) {
    count = 1;
    while (i >= 0 && entries[i]!.partial) i--;
  }
  while (i >= 0) {
    if (count === lines) return i + 1;
    count++;
    i--;
    while (i >= 0 && entries[i]!.partial) i--;
  }
  return 0;
}

export interface LogPrintOptions {
  timestamps?: boolean;
  /** Unix nanoseconds: entries before it are skipped. */
  since?: bigint;
}

/** Writes entries to the two outputs, joining pieces and adding timestamps at line starts. */
export class LogPrinter {
  readonly #out: Record<LogStream, Output>;
  readonly #options: LogPrintOptions;
  /** Per stream: whether the next entry starts a line (and so gets a timestamp). */
  readonly #atLineStart: Record<LogStream, boolean> = { stdout: true, stderr: true };

  constructor(stdout: Output, stderr: Output, options: LogPrintOptions = {}) {
    this.#out = { stdout, stderr };
    this.#options = options;
  }

  /** The bytes for one entry on its stream (empty when skipped). */
  format(entry: LogEntry): Buffer {
    if (this.#options.since !== undefined && entry.ns < this.#options.since) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    if (this.#options.timestamps === true && this.#atLineStart[entry.stream]) {
      parts.push(Buffer.from(`${parseLogTime(entry.time)?.fixed ?? entry.time} `));
    }
    parts.push(entry.content);
    if (!entry.partial) parts.push(NEWLINE);
    this.#atLineStart[entry.stream] = !entry.partial;
    return Buffer.concat(parts);
  }

  async write(entry: LogEntry): Promise<void> {
    const bytes = this.format(entry);
    if (bytes.length > 0) await writeWithBackpressure(this.#out[entry.stream], bytes);
  }
}

const NEWLINE = Buffer.from("\n");

async function writeWithBackpressure(out: Output, chunk: Buffer): Promise<void> {
  if (out.write(chunk) === false && out.once !== undefined) {
    await new Promise<void>((resolve) => out.once?.("drain", resolve));
  }
}

const CHUNK = 64 * 1024;

/** Whole lines from `buffer`: the complete ones and what is left after the last line break. */
function splitLines(buffer: Buffer): { lines: Buffer[]; rest: Buffer } {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = buffer.indexOf(0x0a, start);
    if (nl < 0) break;
    lines.push(buffer.subarray(start, nl));
    start = nl + 1;
  }
  return { lines, rest: buffer.subarray(start) };
}

/** Where the last `lines` lines of the file begin, reading backwards a window at a time. */
export async function tailOffset(file: FileHandle, size: number, lines: number): Promise<number> {
  if (lines < 0 || size === 0) return 0;
  for (let window = CHUNK; ; window *= 2) {
    const from = Math.max(0, size - window);
    const buffer = Buffer.alloc(size - from);
    await file.read(buffer, 0, buffer.length, from);
    // A window that starts mid-line drops its first, cut line.
    const skip = from === 0 ? 0 : buffer.indexOf(0x0a) + 1;
    if (from > 0 && skip === 0) continue;
    const offsets: number[] = [];
    const entries: LogEntry[] = [];
    let pos = skip;
    for (;;) {
      const nl = buffer.indexOf(0x0a, pos);
      const end = nl < 0 ? buffer.length : nl;
      if (end > pos) {
        const entry = parseLogLine(buffer.subarray(pos, end));
        if (entry !== undefined) {
          offsets.push(from + pos);
          entries.push(entry);
        }
      }
      if (nl < 0) break;
      pos = nl + 1;
    }
    const start = tailStart(entries, lines);
    if (start > 0 || from === 0) return start < entries.length ? offsets[start]! : size;
  }
}

export interface ReadLogOptions extends LogPrintOptions {
  /** Lines from the end to start with (default: all). */
  tail?: number;
  /** Keep reading as the file grows, until `running` says the container stopped. */
  follow?: boolean;
  /** Asked while following, about once a second: is the container still running? */
  running?: () => Promise<boolean>;
  signal?: AbortSignal;
  /** Lines that are not CRI log lines (reported once). */
  onBadLine?: (line: Buffer) => void;
  /** How long to wait for the file to change before looking again (ms). */
  pollMs?: number;
}

/** Prints the log file at `path` (and, following, what is appended and what replaces it). */
export async function readLog(
  path: string,
  stdout: Output,
  stderr: Output,
  options: ReadLogOptions = {},
): Promise<void> {
  const printer = new LogPrinter(stdout, stderr, options);
  let file = await open(path, "r");
  try {
    const size = (await file.stat()).size;
    let position = options.tail !== undefined ? await tailOffset(file, size, options.tail) : 0;
    let rest: Buffer = Buffer.alloc(0);
    const buffer = Buffer.alloc(CHUNK);

    const printLines = async (lines: Buffer[]) => {
      for (const line of lines) {
        if (line.length === 0) continue;
        const entry = parseLogLine(line);
        if (entry === undefined) options.onBadLine?.(line);
        else await printer.write(entry);
      }
    };
    /** Reads from `position` to the end of the open file. */
    const drain = async () => {
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        const split = splitLines(Buffer.concat([rest, buffer.subarray(0, bytesRead)]));
        rest = Buffer.from(split.rest);
        await printLines(split.lines);
        if (options.signal?.aborted) return;
      }
    };

    await drain();
    if (options.follow !== true) {
      // A last line without its line break is still a line.
      await printLines([rest]);
      return;
    }
    const changes = new FileChanges(dirname(path));
    try {
      let lastCheck = 0;
      while (options.signal?.aborted !== true) {
        await drain();
        const current = await file.stat();
        // Truncated in place: start over at its new end of data.
        if (current.size < position) {
          position = 0;
          rest = Buffer.alloc(0);
        }
        // Rotated (renamed away, and reopened by the runtime): finish the old file, then
        // carry on with the new one from its start.
        const now = await stat(path).catch(() => undefined);
        if (now !== undefined && (now.ino !== current.ino || now.dev !== current.dev)) {
          const next = await open(path, "r").catch(() => undefined);
          if (next !== undefined) {
            await drain();
            await printLines([rest]);
            rest = Buffer.alloc(0);
            await file.close();
            file = next;
            position = 0;
            continue;
          }
        }
        if (options.running !== undefined && Date.now() - lastCheck >= 1000) {
          lastCheck = Date.now();
          if (!(await options.running())) {
            await drain();
            await printLines([rest]);
            return;
          }
        }
        await changes.wait(options.pollMs ?? 1000, options.signal);
      }
    } finally {
      changes.close();
    }
  } finally {
    await file.close();
  }
}

/** Wakes a follower when something in the log's directory changes, or after a while anyway. */
class FileChanges {
  readonly #watcher: ReturnType<typeof watch> | undefined;
  #wake: (() => void) | undefined;
  #changed = false;

  constructor(dir: string) {
    try {
      // The directory, not the file: a rotation replaces the file.
      this.#watcher = watch(dir, { persistent: false }, () => {
        this.#changed = true;
        this.#wake?.();
      });
      this.#watcher.on("error", () => undefined);
    } catch {
      this.#watcher = undefined;
    }
  }

  wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#changed) {
      this.#changed = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#wake = undefined;
        this.#changed = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  close(): void {
    this.#watcher?.close();
  }
}
