import { once } from "node:events";
import type { Writable } from "node:stream";
import { invalidArgument } from "@berth/client/errdefs";

// A tar reader and writer for image layers (ustar, PAX and GNU long names).
//
// tar-stream is not used here because it decodes PAX values as UTF-8 text, which
// mangles binary extended attributes such as security.capability; a layer must carry
// them byte for byte. This codec keeps every PAX value as raw bytes, reads header-only
// entry types without a body whatever their size field says (as Go's archive/tar does),
// and counts every byte it consumes, so callers can report the layer's size.

const BLOCK = 512;

export type TarEntryType = "file" | "link" | "symlink" | "char" | "block" | "directory" | "fifo" | "other";

export interface TarHeader {
  /** Path as the archive names it (after PAX and GNU long-name records). */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character, for messages about unsupported entries. */
  typeflag: string;
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  atimeNs?: bigint;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from SCHILY.xattr.* records, as raw bytes. */
  xattrs: Map<string, Buffer>;
  /** Every PAX record of the entry, as raw bytes. */
  pax: Map<string, Buffer>;
}

function formatError(message: string): Error {
  return invalidArgument(`invalid tar archive: ${message}`);
}

/** Reads a tar stream entry by entry. Call next(), then optionally body(), and so on. */
export class TarReader {
  private readonly source: AsyncIterator<Uint8Array>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private remaining = 0;
  private padding = 0;
  private finished = false;
  /** Bytes taken from the source so far (the whole stream, once drained). */
  bytesRead = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.source = source[Symbol.asyncIterator]();
  }

  /** The next entry's header, skipping whatever of the previous body was not read; null at the end. */
  async next(): Promise<TarHeader | null> {
    if (this.finished) return null;
    await this.skip(this.remaining + this.padding);
    this.remaining = 0;
    this.padding = 0;

    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Map<string, Buffer> | undefined;
    for (;;) {
      const block = await this.read(BLOCK);
      if (block === null) {
        // A stream that just stops is tolerated, as most readers do.
        this.finished = true;
        return null;
      }
      if (block.every((b) => b === 0)) {
        // End of archive: two zero blocks (a lone one is accepted too).
        this.finished = true;
        return null;
      }
      const raw = parseHeaderBlock(block);
      const bodySize = raw.size;
      switch (raw.typeflag) {
        case "x":
          pax = new Map([...(pax ?? []), ...parsePax(await this.readBody(bodySize))]);
          continue;
        case "g":
          // Global PAX headers are ignored, as containerd does.
          await this.readBody(bodySize);
          continue;
        case "L":
          longName = cString(await this.readBody(bodySize));
          continue;
        case "K":
          longLink = cString(await this.readBody(bodySize));
          continue;
      }
      const header = raw;
      if (longName !== undefined) header.name = longName;
      if (longLink !== undefined) header.linkname = longLink;
      if (pax) applyPax(header, pax);
      if (header.type === "file" && header.name.endsWith("/")) header.type = "directory";
      const hasBody = header.type === "file" || header.type === "other";
      this.remaining = hasBody ? header.size : 0;
      this.padding = hasBody ? padLength(header.size) : 0;
      return header;
    }
  }

  /** The current entry's data, in pieces. */
  async *body(): AsyncGenerator<Buffer> {
    while (this.remaining > 0) {
      const chunk = await this.readSome(this.remaining);
      if (chunk === null) throw formatError("unexpected end of stream inside an entry");
      this.remaining -= chunk.length;
      yield chunk;
    }
  }

  /** Reads the rest of the stream (padding, trailing zero blocks), so bytesRead covers it all. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (!this.ended) {
      const r = await this.source.next();
      if (r.done) this.ended = true;
      else this.bytesRead += r.value.byteLength;
    }
  }

  private async readBody(size: number): Promise<Buffer> {
    if (size > 1 << 20) throw formatError(`extended header of ${size} bytes is too large`);
    const data = size === 0 ? Buffer.alloc(0) : await this.read(size);
    if (data === null) throw formatError("unexpected end of stream inside an extended header");
    await this.skip(padLength(size));
    return data;
  }

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const r = await this.source.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      this.bytesRead += chunk.length;
      if (chunk.length === 0) continue;
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
  }

  /** Exactly n bytes, or null when the stream ends before any of them; throws on a partial read. */
  private async read(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buffered === 0) return null;
    if (this.buffered < n) throw formatError("unexpected end of stream");
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const take = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, take);
      filled += take;
      if (take === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(take);
    }
    this.buffered -= n;
    return out;
  }

  /** Up to n bytes without copying, or null at the end of the stream. */
  private async readSome(n: number): Promise<Buffer | null> {
    await this.fill(1);
    const head = this.chunks[0];
    if (!head) return null;
    if (head.length <= n) {
      this.chunks.shift();
      this.buffered -= head.length;
      return head;
    }
    this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    return head.subarray(0, n);
  }

  private async skip(n: number): Promise<void> {
    while (n > 0) {
      const chunk = await this.readSome(n);
      if (chunk === null) throw formatError("unexpected end of stream");
      n -= chunk.length;
    }
  }
}

function padLength(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function cString(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.subarray(0, nul === -1 ? buf.length : nul).toString("utf8");
}

function parseNumber(field: Buffer, what: string): number {
  const first = field[0] ?? 0;
  if (first & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit as the marker.
    if (first === 0xff) throw formatError(`negative ${what}`);
    let value = BigInt(first & 0x7f);
    for (const b of field.subarray(1)) value = (value << 8n) | BigInt(b);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(`${what} out of range`);
    return Number(value);
  }
  const text = field
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .replace(/^[ \0]+/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw formatError(`${what} field ${JSON.stringify(text)} is not octal`);
  return Number.parseInt(text, 8);
}

const typesByFlag: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "link",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

function parseHeaderBlock(block: Buffer): TarHeader {
  const stored = parseNumber(block.subarray(148, 156), "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) throw formatError("header checksum mismatch");

  const magic = block.subarray(257, 263).toString("latin1");
  const version = block.subarray(263, 265).toString("latin1");
  const gnu = magic === "ustar " && version === " \0";
  const ustar = magic === "ustar\0";
  let name = cString(block.subarray(0, 100));
  // GNU tar keeps times where ustar keeps the prefix.
  if (ustar && !gnu) {
    const prefix = cString(block.subarray(345, 500));
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  const typeflag = String.fromCharCode(block[156]!);
  return {
    name,
    type: typesByFlag[typeflag] ?? "other",
    typeflag,
    mode: parseNumber(block.subarray(100, 108), "mode") & 0o7777,
    uid: parseNumber(block.subarray(108, 116), "uid"),
    gid: parseNumber(block.subarray(116, 124), "gid"),
    size: parseNumber(block.subarray(124, 136), "size"),
    mtimeNs: BigInt(parseNumber(block.subarray(136, 148), "mtime")) * 1_000_000_000n,
    linkname: cString(block.subarray(157, 257)),
    uname: cString(block.subarray(265, 297)),
    gname: cString(block.subarray(297, 329)),
    devmajor: ustar || gnu ? parseNumber(block.subarray(329, 337), "devmajor") : 0,
    devminor: ustar || gnu ? parseNumber(block.subarray(337, 345), "devminor") : 0,
    xattrs: new Map(),
    pax: new Map(),
  };
}

/** PAX records: "<length> <key>=<value>\n", the length counting the whole record. */
function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) throw formatError("malformed PAX record");
    const length = Number.parseInt(data.subarray(at, space).toString("latin1"), 10);
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > data.length) {
      throw formatError("malformed PAX record length");
    }
    const record = data.subarray(space + 1, at + length);
    if (record[record.length - 1] !== 0x0a) throw formatError("PAX record without newline");
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw formatError("PAX record without '='");
    const key = record.subarray(0, eq).toString("utf8");
    const value = record.subarray(eq + 1, record.length - 1);
    // An empty value removes the key (it would otherwise override with nothing).
    if (value.length === 0) records.delete(key);
    else records.set(key, Buffer.from(value));
    at += length;
  }
  return records;
}

function applyPax(header: TarHeader, pax: Map<string, Buffer>): void {
  header.pax = pax;
  for (const [key, value] of pax) {
    const text = () => value.toString("utf8");
    const integer = () => {
      const n = Number(text());
      if (!Number.isSafeInteger(n) || n < 0) throw formatError(`PAX ${key}=${text()} is not a valid number`);
      return n;
    };
    switch (key) {
      case "path":
        header.name = text();
        break;
      case "linkpath":
        header.linkname = text();
        break;
      case "size":
        header.size = integer();
        break;
      case "uid":
        header.uid = integer();
        break;
      case "gid":
        header.gid = integer();
        break;
      case "uname":
        header.uname = text();
        break;
      case "gname":
        header.gname = text();
        break;
      case "mtime":
        header.mtimeNs = paxTime(text());
        break;
      case "atime":
        header.atimeNs = paxTime(text());
        break;
      default:
        if (key.startsWith("SCHILY.xattr.")) header.xattrs.set(key.slice("SCHILY.xattr.".length), value);
        else if (key.startsWith("GNU.sparse.")) header.type = "other";
    }
  }
}

function paxTime(text: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) throw formatError(`PAX time ${JSON.stringify(text)}`);
  const [, sign, secs, frac = ""] = match;
  const ns = BigInt(secs!) * 1_000_000_000n + BigInt(frac.slice(0, 9).padEnd(9, "0"));
  return sign === "-" ? -ns : ns;
}

/** What the writer needs to describe an entry. Names are archive paths (no leading "/"). */
export interface TarEntry {
  name: string;
  type: Exclude<TarEntryType, "other">;
  mode: number;
  uid: number;
  gid: number;
  /** Data length, for files; 0 otherwise. */
  size: number;
  /** Whole seconds are written, like containerd's layers. */
  mtimeNs: bigint;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Uint8Array>;
}

const flagsByType: Record<TarEntry["type"], string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

/** Writes a tar stream, with PAX records wherever ustar fields cannot hold a value. */
export class TarWriter {
  constructor(private readonly out: Writable) {}

  async add(entry: TarEntry, body?: AsyncIterable<Uint8Array>): Promise<void> {
    const pax = new Map<string, Uint8Array>();
    const block = Buffer.alloc(BLOCK);

    let name = entry.name;
    if (entry.type === "directory" && !name.endsWith("/")) name += "/";
    if (!fitsName(block, name)) {
      pax.set("path", Buffer.from(name));
      writeString(block, 0, 100, asciiPrefix(name, 100));
    }
    const linkname = entry.linkname ?? "";
    if (isAscii(linkname) && linkname.length <= 100) writeString(block, 157, 100, linkname);
    else {
      pax.set("linkpath", Buffer.from(linkname));
      writeString(block, 157, 100, asciiPrefix(linkname, 100));
    }
    writeOctal(block, 100, 8, entry.mode & 0o7777);
    for (const [key, offset, value] of [
      ["uid", 108, entry.uid],
      ["gid", 116, entry.gid],
    ] as const) {
      if (value <= 0o7777777) writeOctal(block, offset, 8, value);
      else pax.set(key, Buffer.from(String(value)));
    }
    const size = entry.type === "file" ? entry.size : 0;
    if (size <= 0o77777777777) writeOctal(block, 124, 12, size);
    else pax.set("size", Buffer.from(String(size)));
    const seconds = entry.mtimeNs > 0n ? entry.mtimeNs / 1_000_000_000n : 0n;
    if (seconds <= 0o77777777777n) writeOctal(block, 136, 12, Number(seconds));
    else pax.set("mtime", Buffer.from(String(seconds)));
    block[156] = flagsByType[entry.type].charCodeAt(0);
    block.write("ustar\0", 257, "latin1");
    block.write("00", 263, "latin1");
    writeOctal(block, 329, 8, entry.devmajor ?? 0);
    writeOctal(block, 337, 8, entry.devminor ?? 0);
    for (const [key, value] of entry.xattrs ?? []) pax.set(`SCHILY.xattr.${key}`, value);

    if (pax.size > 0) await this.writePax(name, pax, seconds);
    setChecksum(block);
    await this.write(block);
    if (size > 0) {
      let written = 0;
      for await (const chunk of body ?? []) {
        const take = Math.min(chunk.byteLength, size - written);
        if (take > 0) await this.write(chunk.subarray(0, take));
        written += take;
      }
      if (written !== size)
        throw new Error(`tar entry ${name}: expected ${size} bytes of data, got ${written}`);
      await this.write(Buffer.alloc(padLength(size)));
    }
  }

  /** Writes the end-of-archive marker; the stream itself is left open. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(BLOCK * 2));
  }

  private async writePax(name: string, pax: Map<string, Uint8Array>, seconds: bigint): Promise<void> {
    const parts: Buffer[] = [];
    for (const [key, value] of pax) {
      const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
      // The length prefix counts its own digits; one adjustment settles it.
      const digits = String(rest.length).length;
      let length = rest.length + digits;
      if (String(length).length !== digits) length = rest.length + String(length).length;
      parts.push(Buffer.from(String(length)), rest);
    }
    const data = Buffer.concat(parts);
    const block = Buffer.alloc(BLOCK);
    const base = name.replace(/\/$/, "").split("/").pop() ?? "";
    writeString(block, 0, 100, asciiPrefix(`PaxHeaders.0/${base}`, 100));
    writeOctal(block, 100, 8, 0o644);
    writeOctal(block, 108, 8, 0);
    writeOctal(block, 116, 8, 0);
    writeOctal(block, 124, 12, data.length);
    writeOctal(block, 136, 12, seconds <= 0o77777777777n ? Number(seconds) : 0);
    block[156] = "x".charCodeAt(0);
    block.write("ustar\0", 257, "latin1");
    block.write("00", 263, "latin1");
    setChecksum(block);
    await this.write(block);
    await this.write(data);
    await this.write(Buffer.alloc(padLength(data.length)));
  }

  private async write(data: Uint8Array): Promise<void> {
    if (data.byteLength === 0) return;
    if (!this.out.write(data)) await once(this.out, "drain");
  }
}

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

function asciiPrefix(s: string, max: number): string {
  return s.replace(/[^\x01-\x7f]/g, "_").slice(0, max);
}

/** Puts an ASCII name into name (and prefix, split at a slash) when it fits. */
function fitsName(block: Buffer, name: string): boolean {
  if (!isAscii(name)) return false;
  if (name.length <= 100) {
    writeString(block, 0, 100, name);
    return true;
  }
  for (let i = name.indexOf("/"); i !== -1 && i <= 155; i = name.indexOf("/", i + 1)) {
    const rest = name.slice(i + 1);
    if (rest.length > 0 && rest.length <= 100) {
      writeString(block, 345, 155, name.slice(0, i));
      writeString(block, 0, 100, rest);
      return true;
    }
  }
  return false;
}

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  block.write(value, offset, length, "utf8");
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, "0")}\0`, offset, length, "latin1");
}

function setChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
}
