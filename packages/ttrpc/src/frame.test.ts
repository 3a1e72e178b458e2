import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type FrameHeader,
  FrameParser,
  HEADER_LENGTH,
  MAX_PAYLOAD_LENGTH,
  MessageType,
  decodeHeader,
  encodeFrame,
  encodeHeader,
} from "./frame.js";
import { Code, TtrpcError } from "./status.js";

interface Seen {
  header: FrameHeader;
  payload?: string;
  oversized?: true;
}

function collect(): { parser: FrameParser; seen: Seen[] } {
  const seen: Seen[] = [];
  const parser = new FrameParser({
    onFrame: (header, payload) => seen.push({ header, payload: payload.toString() }),
    onOversized: (header) => seen.push({ header, oversized: true }),
  });
  return { parser, seen };
}

describe("frame header", () => {
  it("encodes big-endian fields in 10 bytes and decodes them back", () => {
    const header = { length: 0x01020304, streamId: 0xfffffffd, type: MessageType.RESPONSE, flags: 0x5 };
    const bytes = encodeHeader(header);
    assert.deepEqual([...bytes], [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfd, 2, 5]);
    assert.deepEqual(decodeHeader(bytes), header);
  });

  it("decodes at an offset and refuses a short header", () => {
    const bytes = Buffer.concat([
      Buffer.from([9, 9, 9]),
      encodeHeader({ length: 7, streamId: 3, type: 1, flags: 0 }),
    ]);
    assert.deepEqual(decodeHeader(bytes, 3), { length: 7, streamId: 3, type: 1, flags: 0 });
    assert.throws(() => decodeHeader(bytes, 4), RangeError);
  });

  it("builds whole frames and refuses payloads above 4 MiB", () => {
    const frame = encodeFrame(5, MessageType.REQUEST, 0, Buffer.from("hello"));
    assert.equal(frame.length, HEADER_LENGTH + 5);
    assert.deepEqual(decodeHeader(frame), { length: 5, streamId: 5, type: 1, flags: 0 });
    assert.equal(frame.subarray(HEADER_LENGTH).toString(), "hello");
    assert.equal(
      encodeFrame(1, 1, 0, Buffer.alloc(MAX_PAYLOAD_LENGTH)).length,
      HEADER_LENGTH + MAX_PAYLOAD_LENGTH,
    );
    assert.throws(
      () => encodeFrame(1, 1, 0, Buffer.alloc(MAX_PAYLOAD_LENGTH + 1)),
      (err: unknown) =>
        err instanceof TtrpcError &&
        err.code === Code.RESOURCE_EXHAUSTED &&
        /exceed maximum/.test(err.message),
    );
  });
});

describe("FrameParser", () => {
  const stream = Buffer.concat([
    encodeFrame(1, MessageType.REQUEST, 0, Buffer.from("first")),
    encodeFrame(3, MessageType.REQUEST, 0, Buffer.alloc(0)),
    encodeFrame(5, MessageType.DATA, 1, Buffer.from("third frame, a little longer")),
  ]);
  const expected: Seen[] = [
    { header: { length: 5, streamId: 1, type: 1, flags: 0 }, payload: "first" },
    { header: { length: 0, streamId: 3, type: 1, flags: 0 }, payload: "" },
    { header: { length: 28, streamId: 5, type: 3, flags: 1 }, payload: "third frame, a little longer" },
  ];

  it("reads several frames from one chunk", () => {
    const { parser, seen } = collect();
    parser.push(stream);
    assert.deepEqual(seen, expected);
    assert.equal(parser.idle, true);
  });

  it("reads the same frames split at every byte boundary", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const { parser, seen } = collect();
      parser.push(stream.subarray(0, cut));
      parser.push(stream.subarray(cut));
      assert.deepEqual(seen, expected, `cut at ${cut}`);
    }
  });

  it("reads the same frames one byte at a time", () => {
    const { parser, seen } = collect();
    const boundaries = new Set([15, 25, stream.length]);
    for (let end = 1; end <= stream.length; end++) {
      parser.push(stream.subarray(end - 1, end));
      assert.equal(parser.idle, boundaries.has(end), `after ${end} bytes`);
    }
    assert.deepEqual(seen, expected);
  });

  it("skips an oversized frame's payload, reports it, and goes on", () => {
    const length = MAX_PAYLOAD_LENGTH + 3;
    const big = Buffer.concat([
      encodeHeader({ length, streamId: 7, type: MessageType.REQUEST, flags: 0 }),
      Buffer.alloc(length, 0x61),
    ]);
    const after = encodeFrame(9, MessageType.REQUEST, 0, Buffer.from("after"));
    const all = Buffer.concat([big, after]);
    const want: Seen[] = [
      { header: { length, streamId: 7, type: 1, flags: 0 }, oversized: true },
      { header: { length: 5, streamId: 9, type: 1, flags: 0 }, payload: "after" },
    ];

    const whole = collect();
    whole.parser.push(all);
    assert.deepEqual(whole.seen, want);

    const chunked = collect();
    for (let i = 0; i < all.length; i += 65536) chunked.parser.push(all.subarray(i, i + 65536));
    assert.deepEqual(chunked.seen, want);
  });
});
