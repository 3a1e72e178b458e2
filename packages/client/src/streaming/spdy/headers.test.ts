import assert from "node:assert/strict";
import { test } from "node:test";
import zlib from "node:zlib";
import { SPDY3_DICTIONARY } from "./dictionary.js";
import {
  HeaderCompressor,
  HeaderDecompressor,
  type SpdyHeaders,
  decodeHeaderBlock,
  encodeHeaderBlock,
} from "./headers.js";

/** One zlib stream, each input flushed, as a SPDY peer keeps it. */
function zstream(kind: "deflate" | "inflate") {
  const z =
    kind === "deflate"
      ? zlib.createDeflate({ dictionary: SPDY3_DICTIONARY })
      : zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  const out: Buffer[] = [];
  z.on("data", (c: Buffer) => out.push(c));
  return (input: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      z.once("error", reject);
      z.write(input);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out.splice(0))));
    });
}

test("the dictionary is SPDY/3's (1423 bytes, Adler-32 0xe3c6a7c2 as peers check it)", () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(SPDY3_DICTIONARY.subarray(0, 11).toString("latin1"), "\0\0\0\x07options");
  assert.ok(SPDY3_DICTIONARY.toString("latin1").endsWith("enq=0."));
  assert.deepEqual(
    [...new HeaderCompressor().compress(Buffer.alloc(0)).subarray(0, 6)],
    [0x78, 0x20, 0xe3, 0xc6, 0xa7, 0xc2],
  );
});

test("header blocks: names lower-cased, several values joined by NUL, partial blocks wait", () => {
  const headers: SpdyHeaders = new Map([
    ["StreamType", ["stdout"]],
    ["x", ["a", "b"]],
  ]);
  const block = encodeHeaderBlock(headers);
  const decoded = decodeHeaderBlock(block);
  assert.deepEqual(
    decoded?.headers,
    new Map([
      ["streamtype", ["stdout"]],
      ["x", ["a", "b"]],
    ]),
  );
  assert.equal(decoded?.used, block.length);
  assert.equal(decodeHeaderBlock(block.subarray(0, block.length - 1)), undefined);
});

test("what the compressor makes inflates block by block, each ending with a sync flush", async () => {
  const compressor = new HeaderCompressor();
  const inflate = zstream("inflate");
  for (const value of ["error", "stdin", "x".repeat(70_000)]) {
    const block = encodeHeaderBlock(new Map([["streamtype", [value]]]));
    const compressed = compressor.compress(block);
    assert.deepEqual([...compressed.subarray(-5)], [0, 0, 0, 0xff, 0xff]);
    assert.deepEqual(await inflate(compressed), block);
  }
});

test("the decompressor reads a peer's compressed blocks in order", async () => {
  const deflate = zstream("deflate");
  const decompressor = new HeaderDecompressor();
  const blocks = ["error", "stdin", "stdout"].map((t) =>
    encodeHeaderBlock(
      new Map([
        ["streamtype", [t]],
        ["port", ["8080"]],
      ]),
    ),
  );
  const compressed = [];
  for (const b of blocks) compressed.push(await deflate(b));
  const decoded = await Promise.all(compressed.map((c) => decompressor.decompress(c)));
  assert.deepEqual(
    decoded.map((h) => h.get("streamtype")?.[0]),
    ["error", "stdin", "stdout"],
  );
  decompressor.close();
  await assert.rejects(decompressor.decompress(compressed[0]!));
});
