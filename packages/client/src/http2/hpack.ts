// HPACK (RFC 7541): a decoder with the static and dynamic tables and Huffman strings, and
// an encoder that writes literals only (never indexed into the peer's table, no Huffman).
// Names and values are latin1 strings, so any octets pass through unchanged.

/** A header field as decoded; `sensitive` marks the never-indexed representation. */
export interface HeaderField {
  name: string;
  value: string;
  sensitive?: boolean;
}

/** A header block that cannot be decoded (a COMPRESSION_ERROR in HTTP/2). */
export class HpackError extends Error {
  override name = "HpackError";
}

/** The static table, RFC 7541 Appendix A (index 1 first). */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** Static table index of each name's first entry, for the encoder's indexed names. */
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});

/** Huffman code and bit length of each symbol 0..255 (code of s at 2s, length at 2s+1), RFC 7541 Appendix B. */
// biome-ignore format: a table of 256 pairs
export const HUFFMAN = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28,
  0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28,
  0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28,
  0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, 0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11,
  0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6,
  0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10,
  0x1ffa, 13, 0x21, 6, 0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7,
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7,
  0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, 0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7,
  0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6,
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6,
  0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5,
  0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7,
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28,
  0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23,
  0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23,
  0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24,
  0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23,
  0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23,
  0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25,
  0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25,
  0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27,
  0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23,
  0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27,
  0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, 0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26,
];
const EOS = 256;

/** The Huffman code as a binary tree: node i's children are at 2i (bit 0) and 2i+1 (bit 1). */
const HUFFMAN_TREE = (() => {
  // Positive entries are child nodes, negative ones -(symbol + 1), 0 is no code.
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  const place = (symbol: number, code: number, length: number) => {
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) {
        tree[slot] = -(symbol + 1);
      } else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot] as number;
      }
    }
  };
  for (let s = 0; s < 256; s++) place(s, HUFFMAN[2 * s] as number, HUFFMAN[2 * s + 1] as number);
  place(EOS, 0x3fffffff, 30);
  return tree;
})();

/** Decodes a Huffman-coded string (RFC 7541 5.2) into latin1. */
export function huffmanDecode(data: Uint8Array): string {
  // The shortest code is 5 bits.
  const out = Buffer.allocUnsafe(Math.ceil((data.length * 8) / 5));
  let length = 0;
  let node = 0;
  let pendingBits = 0; // bits read since the last whole symbol
  let pendingOnes = true;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >>> bit) & 1;
      const next = HUFFMAN_TREE[2 * node + b] as number;
      pendingBits++;
      if (b === 0) pendingOnes = false;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new HpackError("Huffman string holds the EOS symbol");
        out[length++] = symbol;
        node = 0;
        pendingBits = 0;
        pendingOnes = true;
      } else {
        node = next;
      }
    }
  }
  // Padding is the start of EOS: fewer than 8 bits, all ones.
  if (pendingBits > 7 || !pendingOnes) throw new HpackError("Huffman string has bad padding");
  return out.toString("latin1", 0, length);
}

/** Bytes of a header field in a table, RFC 7541 4.1. */
const entrySize = (name: string, value: string) => name.length + value.length + 32;

/** A decoder's dynamic table; one per connection direction, kept across header blocks. */
export class HpackDecoder {
  /** Newest entry first, as the dynamic table is indexed. */
  readonly #entries: Array<readonly [string, string]> = [];
  #size = 0;
  #maxSize: number;
  readonly #limit: number;
  readonly #maxListSize: number;

  /**
   * @param limit the SETTINGS_HEADER_TABLE_SIZE this end announced (4096 unless changed):
   *   the largest table a size update may ask for.
   * @param maxListSize the most octets a decoded block may hold (names, values and 32 per field).
   */
  constructor(limit = 4096, maxListSize = 1 << 20) {
    this.#limit = limit;
    this.#maxSize = limit;
    this.#maxListSize = maxListSize;
  }

  /** The dynamic table's entries, newest first (for tests and debugging). */
  get table(): ReadonlyArray<readonly [string, string]> {
    return this.#entries;
  }

  /** Its size in octets, as RFC 7541 counts it. */
  get size(): number {
    return this.#size;
  }

  /** Decodes one whole header block; throws HpackError and leaves the table unusable if bad. */
  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    let pos = 0;
    let listSize = 0;
    let fieldSeen = false;

    const integer = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = (block[pos++] as number) & max;
      if (value < max) return value;
      for (let shift = 0; ; shift += 7) {
        if (pos >= block.length) throw new HpackError("header block ends inside an integer");
        if (shift > 21) throw new HpackError("integer in header block is too large");
        const b = block[pos++] as number;
        value += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return value;
      }
    };
    const string = (): string => {
      if (pos >= block.length) throw new HpackError("header block ends before a string");
      const huffman = ((block[pos] as number) & 0x80) !== 0;
      const length = integer(7);
      if (length > block.length - pos) throw new HpackError("string runs past the end of the header block");
      const bytes = block.subarray(pos, pos + length);
      pos += length;
      return huffman
        ? huffmanDecode(bytes)
        : Buffer.from(bytes.buffer, bytes.byteOffset, length).toString("latin1");
    };
    const entry = (index: number): readonly [string, string] => {
      if (index === 0) throw new HpackError("header block refers to index 0");
      const found =
        index <= STATIC_TABLE.length
          ? STATIC_TABLE[index - 1]
          : this.#entries[index - STATIC_TABLE.length - 1];
      if (found === undefined) throw new HpackError(`header block refers to index ${index}, past the tables`);
      return found;
    };
    const emit = (field: HeaderField) => {
      listSize += entrySize(field.name, field.value);
      if (listSize > this.#maxListSize)
        throw new HpackError(`header list is over ${this.#maxListSize} octets`);
      fields.push(field);
      fieldSeen = true;
    };

    while (pos < block.length) {
      const b = block[pos] as number;
      if (b & 0x80) {
        const [name, value] = entry(integer(7));
        emit({ name, value });
      } else if (b & 0x40) {
        const index = integer(6);
        const name = index === 0 ? string() : (entry(index)[0] as string);
        const value = string();
        this.#add(name, value);
        emit({ name, value });
      } else if (b & 0x20) {
        // A size update may only open a block (RFC 7541 4.2).
        if (fieldSeen) throw new HpackError("dynamic table size update after a header field");
        const size = integer(5);
        if (size > this.#limit)
          throw new HpackError(`dynamic table size ${size} is over the limit ${this.#limit}`);
        this.#maxSize = size;
        this.#evict(0);
      } else {
        const sensitive = (b & 0x10) !== 0;
        const index = integer(4);
        const name = index === 0 ? string() : (entry(index)[0] as string);
        const value = string();
        emit(sensitive ? { name, value, sensitive } : { name, value });
      }
    }
    return fields;
  }

  #add(name: string, value: string): void {
    const size = entrySize(name, value);
    this.#evict(size);
    // An entry larger than the table empties it and is not added (RFC 7541 4.4).
    if (size > this.#maxSize) return;
    this.#entries.unshift([name, value]);
    this.#size += size;
  }

  #evict(room: number): void {
    while (this.#size + room > this.#maxSize && this.#entries.length > 0) {
      const [name, value] = this.#entries.pop() as readonly [string, string];
      this.#size -= entrySize(name, value);
    }
  }
}

function writeInteger(out: number[], value: number, prefixBits: number, first: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function writeString(out: number[], s: string): void {
  writeInteger(out, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
}

/**
 * Encodes fields as literals without indexing (never indexed for sensitive ones), names
 * from the static table where they are in it: the peer's dynamic table is never touched.
 */
export function encodeLiterals(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  for (const { name, value, sensitive } of fields) {
    const first = sensitive ? 0x10 : 0x00;
    const index = STATIC_NAME_INDEX.get(name);
    if (index !== undefined) {
      writeInteger(out, index, 4, first);
    } else {
      out.push(first);
      writeString(out, name);
    }
    writeString(out, value);
  }
  return Buffer.from(out);
}
