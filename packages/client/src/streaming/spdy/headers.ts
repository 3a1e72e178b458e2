// SPDY/3 header blocks: a count, then length-prefixed names and values (32-bit big-endian
// lengths, lower-case names, several values of one name joined by NUL), compressed with
// zlib and the SPDY dictionary. Each direction of a connection is one zlib stream that
// every header block continues, flushed at the end of each block.

import zlib from "node:zlib";
import { SPDY3_DICTIONARY } from "./dictionary.js";
import { SpdyProtocolError } from "./frames.js";

/** Header names (lower case) to their values. */
export type SpdyHeaders = Map<string, string[]>;

/** Bounds what a peer can make us inflate for one header block. */
const MAX_HEADER_BLOCK = 256 * 1024;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(headers.size);
  parts.push(count);
  for (const [name, values] of headers) {
    for (const field of [Buffer.from(name.toLowerCase(), "utf8"), Buffer.from(values.join("\0"), "utf8")]) {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(field.length);
      parts.push(length, field);
    }
  }
  return Buffer.concat(parts);
}

/**
 * Parses one header block from the front of `buf`; returns it with the bytes it used, or
 * undefined when `buf` does not hold a whole block yet.
 */
export function decodeHeaderBlock(buf: Buffer): { headers: SpdyHeaders; used: number } | undefined {
  if (buf.length < 4) return undefined;
  const count = buf.readUInt32BE(0);
  let offset = 4;
  const headers: SpdyHeaders = new Map();
  for (let i = 0; i < count; i++) {
    const fields: string[] = [];
    for (let f = 0; f < 2; f++) {
      if (buf.length < offset + 4) return undefined;
      const length = buf.readUInt32BE(offset);
      if (length > MAX_HEADER_BLOCK) throw new SpdyProtocolError(`header field of ${length} bytes`);
      offset += 4;
      if (buf.length < offset + length) return undefined;
      fields.push(buf.toString("utf8", offset, offset + length));
      offset += length;
    }
    const [name, value] = fields as [string, string];
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), ...value.split("\0")]);
  }
  return { headers, used: offset };
}

const SYNC_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * The sending side's zlib stream. Berth's header blocks are a few bytes, so they go out
 * as stored (uncompressed) deflate blocks: valid zlib that any inflater with the
 * dictionary reads, and made synchronously, so frames leave in the order they are made.
 */
export class HeaderCompressor {
  #started = false;

  compress(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.#started) {
      this.#started = true;
      // CMF 0x78 (deflate, 32 KiB window), FLG 0x20 (preset dictionary; 0x7820 % 31 === 0),
      // then the dictionary's Adler-32.
      const head = Buffer.alloc(6);
      head[0] = 0x78;
      head[1] = 0x20;
      head.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
      parts.push(head);
    }
    let offset = 0;
    do {
      const piece = block.subarray(offset, offset + 0xffff);
      // BFINAL 0, BTYPE 00 (stored): LEN and its one's complement, little-endian.
      const head = Buffer.alloc(5);
      head.writeUInt16LE(piece.length, 1);
      head.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(head, piece);
      offset += piece.length;
    } while (offset < block.length);
    // The end of a sync flush, an empty stored block: an inflater that reads block by block
    // (Go's) hands out the data it holds only when it meets the next block, which must be
    // in this frame.
    parts.push(SYNC_MARKER);
    return Buffer.concat(parts);
  }
}

/**
 * The receiving side's zlib stream. Inflation runs off the event loop, so blocks are
 * handed in order and each resolves with its headers once inflated.
 */
export class HeaderDecompressor {
  readonly #inflate = zlib.createInflate({
    dictionary: SPDY3_DICTIONARY,
    flush: zlib.constants.Z_SYNC_FLUSH,
  });
  #output: Buffer = Buffer.alloc(0);
  readonly #waiting: Array<{ resolve(h: SpdyHeaders): void; reject(e: Error): void }> = [];
  #failed: Error | undefined;

  constructor() {
    this.#inflate.on("data", (chunk: Buffer) => {
      this.#output = this.#output.length === 0 ? chunk : Buffer.concat([this.#output, chunk]);
      this.#deliver();
    });
    this.#inflate.on("error", (err) => this.#fail(new SpdyProtocolError(`header block: ${err.message}`)));
  }

  decompress(compressed: Buffer): Promise<SpdyHeaders> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#inflate.write(compressed);
    });
  }

  close(): void {
    this.#fail(new SpdyProtocolError("connection closed"));
    this.#inflate.destroy();
  }

  #deliver(): void {
    try {
      while (this.#waiting.length > 0) {
        const block = decodeHeaderBlock(this.#output);
        if (block === undefined) {
          if (this.#output.length > MAX_HEADER_BLOCK) throw new SpdyProtocolError("header block too large");
          return;
        }
        this.#output = this.#output.subarray(block.used);
        this.#waiting.shift()?.resolve(block.headers);
      }
      if (this.#output.length > 0) throw new SpdyProtocolError("header block longer than its frame");
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const w of this.#waiting.splice(0)) w.reject(err);
  }
}
